-- hype.actor.supervisor: OTP's supervisor on top of hype.actor.server (issue 11, item 2).
--
--   local actor = require("hype.actor")
--   local sup = actor.supervisor{
--     strategy = "one_for_one",          -- | "one_for_all" | "rest_for_one"
--     intensity = 3, period = 5,         -- more than 3 restarts in 5 s: give up
--     children = {
--       { id = "counter", start = { counter, "start_link", 0 } },          -- counter:start_link(0)
--       { id = "worker", start = { fn = work, args = { 1 } }, restart = "transient" },
--       { id = "custom", start = function() return actor.spawn_link(f) end, shutdown = "brutal_kill" },
--     },
--   }
--   local pid = sup:start_link()         -- or sup:start(); nil, reason if a child fails to start
--   actor.which_children(pid)            -- { { id =, pid = pid | nil, restart = }, ... } in start order
--   actor.terminate_child(pid, "worker") -- true | nil, "not_found"
--   actor.restart_child(pid, "worker")   -- pid | nil, "running" | "not_found" | start failure
--
-- A supervisor is an actor.server process that traps exits.  It starts its children in
-- order; a child that fails to start (start raised, returned nil[, reason], or a server's
-- init failed) stops the ones already started (in reverse) and the supervisor's start
-- returns nil, { "shutdown", { "failed_to_start_child", id, reason } }.
-- `start` is one of: a function returning a pid (run in the supervisor; the supervisor
-- links to the pid it returns), { module, "fn", args... } (called as module:fn(args...),
-- e.g. a server's start_link), or { fn = f, args = {...} } (spawn_link'ed).
-- When a child exits, its `restart` type decides: "permanent" (default) always restarts,
-- "transient" only after an abnormal exit (not "normal", "shutdown" or { "shutdown", ... }),
-- "temporary" never (its spec is dropped, as in OTP).  The strategy decides what else
-- restarts: one_for_one only that child; one_for_all every running child (stopped in
-- reverse start order, restarted in order); rest_for_one the running children started
-- after it too.  Children already stopped (terminate_child, a transient's normal exit)
-- stay stopped.  A restart that fails to start counts as another restart and is retried.
-- More than `intensity` restarts within `period` seconds: the supervisor stops every
-- child (reverse order) and exits "shutdown", so its own supervisor sees it fail and
-- applies its strategy (escalation).
-- Stopping a child: exit(pid, "shutdown"), wait `shutdown` ms (default 5000; "infinity"
-- waits for ever) for it to end, then exit(pid, "kill"); shutdown = "brutal_kill" kills
-- at once.  A supervisor started with start_link stops its children and exits when its
-- parent sends it an exit signal (e.g. its own supervisor shutting it down).
-- Times come from hype.loop's now() (ms).
local actor = require("hype.actor")
local server = require("hype.actor.server")
local loop = package.loaded["hype.loop"] or require("hype.loop")

local M = {}

local receive, monitor, exit, is_pid, spawn, link, call =
  actor.receive, actor.monitor, actor.exit, actor.is_pid, actor.spawn, actor.link, server.call
local unpack = table.unpack

local function typed(code, message, hint)
  return setmetatable({ code = code, message = message, hint = hint or "" },
    { __tostring = function(e) return "[" .. e.code .. "] " .. e.message end })
end

local function bad(message)
  error(typed("ACTOR_BAD_SUPERVISOR", message,
    "See the header of lua/hype/actor/supervisor.lua for the supervisor and child specs."), 3)
end

local STRATEGIES = { one_for_one = true, one_for_all = true, rest_for_one = true }
local RESTARTS = { permanent = true, transient = true, temporary = true }

local function reason_of(err)
  if type(err) == "table" and err.actor_exit ~= nil then return err.actor_exit end
  if type(err) == "table" then return err end
  return tostring(err)
end

-- start one child; sets child.pid -> pid | nil, reason
local function start_child(child)
  local s = child.start
  local ok, pid, why
  if type(s) == "function" then
    ok, pid, why = pcall(s)
  elseif s.fn ~= nil then
    ok, pid = pcall(spawn, { fn = s.fn, args = s.args or {}, link = true })
  else
    local m, f = s[1], s[2]
    if type(m) ~= "table" or type(m[f]) ~= "function" then
      ok, pid = false, "child " .. tostring(child.id) .. ": start = { module, name } names no function"
    else
      ok, pid, why = pcall(m[f], m, unpack(s, 3, s.n or #s))
    end
  end
  if not ok then
    if type(pid) == "table" and pid.actor_exit ~= nil then error(pid, 0) end  -- the supervisor itself was killed
    return nil, reason_of(pid)
  end
  if not is_pid(pid) then return nil, why or "start returned no pid" end
  link(pid)  -- a start function that did not link: the supervisor must see the child end
  child.pid = pid
  return pid
end

-- stop one child (its EXIT message, if it comes, is consumed or ignored later)
local function shutdown(child)
  local pid = child.pid
  child.pid = nil
  if pid == nil then return end
  local ref = monitor(pid)
  local function down(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == ref end
  local gone = false
  if child.shutdown == "brutal_kill" then
    exit(pid, "kill")
  else
    exit(pid, "shutdown")
    local wait = child.shutdown
    if wait == "infinity" then wait = nil end
    gone = receive(down, wait) ~= nil
    if not gone then exit(pid, "kill") end
  end
  if not gone then receive(down) end
  receive(function(m) return type(m) == "table" and m[1] == "EXIT" and m[2] == pid end, 0)
end

local function find(st, key, value)
  for i, c in ipairs(st.children) do
    if c[key] == value then return i, c end
  end
end

local function stop_all(st)
  for i = #st.children, 1, -1 do shutdown(st.children[i]) end
end

-- true while within intensity
local function add_restart(st)
  local now = loop.now()
  local kept = {}
  for _, t in ipairs(st.restarts) do
    if now - t <= st.period * 1000 then kept[#kept + 1] = t end
  end
  kept[#kept + 1] = now
  st.restarts = kept
  return #kept <= st.intensity
end

-- restart the set the strategy names for child `c` (which is not running);
-- -> nil on success, or the child that failed to start
local function restart_set(st, c)
  local i = find(st, "id", c.id)
  local first, last = i, i
  if st.strategy == "one_for_all" then first, last = 1, #st.children
  elseif st.strategy == "rest_for_one" then last = #st.children end
  local set = {}
  for k = first, last do
    local x = st.children[k]
    if k == i or x.pid ~= nil or x.pending then set[#set + 1] = x; x.pending = true end
  end
  for k = #set, 1, -1 do shutdown(set[k]) end
  for _, x in ipairs(set) do
    if x.restart == "temporary" and x ~= c then
      x.pending = nil
      table.remove(st.children, (find(st, "id", x.id)))
    else
      local pid = start_child(x)
      if pid == nil then return x end
      x.pending = nil
    end
  end
  return nil
end

local function is_normal(reason)
  return reason == "normal" or reason == "shutdown" or (type(reason) == "table" and reason[1] == "shutdown")
end

local function on_exit(st, pid, reason)
  local i, c = find(st, "pid", pid)
  if c == nil then return "noreply", st end  -- not (or no longer) a child
  c.pid = nil
  if c.restart == "temporary" then table.remove(st.children, i); return "noreply", st end
  if c.restart == "transient" and is_normal(reason) then return "noreply", st end
  while true do
    if not add_restart(st) then return "stop", "shutdown", st end  -- terminate stops the children
    local failed = restart_set(st, c)
    if failed == nil then return "noreply", st end
    c = failed
  end
end

local callbacks = {}

function callbacks.init(spec)
  actor.trap_exit(true)
  local st = { strategy = spec.strategy, intensity = spec.intensity, period = spec.period,
               children = {}, restarts = {} }
  for i, cs in ipairs(spec.children) do
    st.children[i] = { id = cs.id, start = cs.start, restart = cs.restart, shutdown = cs.shutdown }
  end
  for i, c in ipairs(st.children) do
    local pid, why = start_child(c)
    if pid == nil then
      for k = i - 1, 1, -1 do shutdown(st.children[k]) end
      return "stop", { "shutdown", { "failed_to_start_child", c.id, why } }
    end
  end
  return st
end

function callbacks.handle_call(req, _, st)
  local op, id = req[1], req[2]
  if op == "which_children" then
    local out = {}
    for i, c in ipairs(st.children) do out[i] = { id = c.id, pid = c.pid, restart = c.restart } end
    return "reply", out, st
  end
  local i, c = find(st, "id", id)
  if c == nil then return "reply", { false, "not_found" }, st end
  if op == "terminate_child" then
    shutdown(c)
    if c.restart == "temporary" then table.remove(st.children, i) end
    return "reply", { true }, st
  elseif op == "restart_child" then
    if c.pid ~= nil then return "reply", { false, "running" }, st end
    local pid, why = start_child(c)
    if pid == nil then return "reply", { false, why }, st end
    return "reply", { true, pid }, st
  end
  return "reply", { false, "unknown request" }, st
end

function callbacks.handle_info(msg, st)
  if type(msg) == "table" and msg[1] == "EXIT" then return on_exit(st, msg[2], msg[3]) end
  return "noreply", st
end

function callbacks.terminate(_, st)
  if type(st) == "table" and st.children then stop_all(st) end
end

--- actor.supervisor{ strategy =, intensity =, period =, children = {...}, name = } -> a
--- supervisor module (start / start_link methods, like a server's)
function M.supervisor(spec)
  if type(spec) ~= "table" then bad("actor.supervisor takes a table") end
  local strategy = spec.strategy or "one_for_one"
  if not STRATEGIES[strategy] then bad("unknown strategy " .. tostring(strategy)) end
  local children, seen = {}, {}
  for i, c in ipairs(spec.children or {}) do
    if type(c) ~= "table" or c.id == nil then bad("child #" .. i .. " needs an id") end
    if seen[c.id] then bad("two children have the id " .. tostring(c.id)) end
    seen[c.id] = true
    local s = c.start
    if type(s) ~= "function" and not (type(s) == "table" and (type(s.fn) == "function" or type(s[1]) == "table")) then
      bad("child " .. tostring(c.id) .. ": start is a function, { module, \"fn\", args... } or { fn =, args = }")
    end
    local restart = c.restart or "permanent"
    if not RESTARTS[restart] then bad("child " .. tostring(c.id) .. ": unknown restart " .. tostring(restart)) end
    local sd = c.shutdown or 5000
    if sd ~= "brutal_kill" and sd ~= "infinity" and type(sd) ~= "number" then
      bad("child " .. tostring(c.id) .. ": shutdown is ms, \"brutal_kill\" or \"infinity\"")
    end
    children[i] = { id = c.id, start = s, restart = restart, shutdown = sd }
  end
  local frozen = { strategy = strategy, intensity = spec.intensity or 3, period = spec.period or 5,
                   children = children }
  local mod = server.server({
    name = spec.name,
    init = function() return callbacks.init(frozen) end,
    handle_call = callbacks.handle_call,
    handle_info = callbacks.handle_info,
    terminate = callbacks.terminate,
  })
  mod.spec = frozen
  return mod
end

--- actor.which_children(sup) -> { { id =, pid = pid | nil, restart = }, ... }
function M.which_children(sup)
  return call(sup, { "which_children" }, "infinity")
end

--- actor.terminate_child(sup, id) -> true | nil, "not_found"
function M.terminate_child(sup, id)
  local r = call(sup, { "terminate_child", id }, "infinity")
  if r[1] then return true end
  return nil, r[2]
end

--- actor.restart_child(sup, id) -> pid | nil, "running" | "not_found" | reason
function M.restart_child(sup, id)
  local r = call(sup, { "restart_child", id }, "infinity")
  if r[1] then return r[2] end
  return nil, r[2]
end

return M
