-- hype.actor: Erlang-style processes on the runtime's event loop (issue 11, first slice).
--
--   local actor = require("hype.actor")
--   local pid = actor.spawn(function(parent, n)
--     local msg = actor.receive()                         -- next message, any shape
--     actor.send(parent, { "pong", n, msg })
--   end, actor.self(), 1)
--   actor.send(pid, "ping")
--   local reply = actor.receive(function(m) return type(m) == "table" and m[1] == "pong" end, 1000)
--
-- A process is a coroutine run by the event loop (`async`); the main chunk is a process
-- too (it becomes one the first time it calls the API).  `receive(matcher, timeout_ms)`
-- is selective (the first matching message, others stay queued in order) and returns
-- nil, "timeout" after `timeout_ms` (0: poll).  Messages are deep-copied plain data
-- (nil, booleans, numbers, strings, tables of those; functions, userdata and threads are
-- refused at `send` with a typed error).  Exits follow Erlang: a process ends "normal",
-- with its error, or by `exit(pid, reason)`; linked processes die with a non-normal
-- reason unless they `trap_exit(true)`, which turns exit signals into
-- { "EXIT", pid, reason } messages; monitors get { "DOWN", ref, pid, reason }.
--
-- Fairness (docs/actors-design.md): every API call costs reductions; a process that has
-- used its budget (REDUCTIONS, 4000 like OTP) yields to the event loop at its next call.
-- Preemption of code that never calls the API (a C hook armed by a timer) is not in this
-- slice yet.
local actor = {}

local loop = package.loaded["hype.loop"]

local REDUCTIONS = 4000
local MAX_DEPTH = 100

-- the runtime's own pcall (the user-visible one lets a fired TIMEOUT/INTERRUPTED through)
local watch = package.loaded["hype.watch"]
local raw_pcall = watch and watch.raw and watch.raw.pcall or pcall

local procs = {}        -- id -> process record
local by_co = setmetatable({}, { __mode = "k" })   -- coroutine -> process record
local names = {}        -- registered name -> process record
local next_id, next_ref = 0, 0

local Pid = {}
Pid.__index = Pid
Pid.__tostring = function(p) return "<0." .. p.id .. ".0>" end
Pid.__eq = function(a, b) return a.id == b.id end

local function typed(code, message, hint)
  return setmetatable({ code = code, message = message, hint = hint or "" },
    { __tostring = function(e) return "[" .. e.code .. "] " .. e.message end })
end

local function fail(code, message, hint)
  error(typed(code, message, hint), 3)
end

local function new_proc(co)
  next_id = next_id + 1
  local p = { pid = setmetatable({ id = next_id }, Pid), co = co, mailbox = {}, links = {}, monitors = {},
              monitored_by = {}, trap = false, status = "runnable", reductions = 0, budget = REDUCTIONS,
              waiter = nil, exit_reason = nil }
  procs[next_id] = p
  if co then by_co[co] = p end
  return p
end

-- the current process (the main chunk, or any coroutine, becomes one when it first asks)
local function current()
  local co = coroutine.running()
  local p = by_co[co]
  if p == nil then p = new_proc(co) end
  return p
end

local finish  -- forward

-- a process whose coroutine ended without going through spawn's exit path (a main chunk
-- that returned or was stopped by the host) has exited "normal"
local function reap(p)
  if p and p.co and p.status ~= "exited" and coroutine.status(p.co) == "dead" then finish(p, "normal") end
  return p and p.status ~= "exited" and p or nil
end

local function lookup(dest)
  if getmetatable(dest) == Pid then return reap(procs[dest.id]) end
  if type(dest) == "string" then return reap(names[dest]) end
  return nil
end

-- deep copy of plain data; `path` names the offending field in the error
local function copy(v, path, depth, seen)
  local t = type(v)
  if t == "nil" or t == "boolean" or t == "number" or t == "string" then return v end
  if t == "table" then
    if getmetatable(v) == Pid then return setmetatable({ id = v.id }, Pid) end
    if depth > MAX_DEPTH then fail("ACTOR_BAD_MESSAGE", "message nested deeper than " .. MAX_DEPTH .. " at " .. path) end
    if seen[v] then fail("ACTOR_BAD_MESSAGE", "message has a cycle at " .. path) end
    seen[v] = true
    local out = {}
    for k, x in pairs(v) do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then
        fail("ACTOR_BAD_MESSAGE", "a message key is a " .. kt .. " at " .. path)
      end
      out[k] = copy(x, path .. "." .. tostring(k), depth + 1, seen)
    end
    seen[v] = nil
    return out
  end
  fail("ACTOR_BAD_MESSAGE", "a message cannot carry a " .. t .. " (at " .. path .. ")",
       "Send plain data: tables, strings, numbers, booleans; pids are fine.")
end

-- Fairness: count `n` reductions; past the budget, yield to the event loop (a macrotask,
-- so timers and I/O run too) before going on.
local function reduce(p, n)
  p.reductions = p.reductions + n
  p.budget = p.budget - n
  if p.budget <= 0 then
    p.budget = REDUCTIONS
    if coroutine.isyieldable() then
      await(Promise.new(function(resolve) setTimeout(resolve, 0) end))
    end
  end
end

local deliver  -- forward

-- a process blocked in receive goes on (it re-scans its mailbox, then checks for a kill)
local function wake(p)
  local w = p.waiter
  if w then
    p.waiter = nil
    if w.timer then clearTimeout(w.timer) end
    w.resolve(true)
  end
end

local function exit_signal(target, from, reason)
  -- an exit signal from `from` (a pid) with `reason` arriving at process `target`
  if target.status == "exited" then return end
  if reason == "kill" then target.kill_reason = "killed"          -- cannot be trapped
  elseif target.trap then deliver(target, { "EXIT", from, reason }); return
  elseif reason == "normal" then return                            -- ignored unless trapping
  else target.kill_reason = reason end
  wake(target)  -- blocked in receive: it dies now
end

function deliver(p, msg)
  if p.status == "exited" then return end
  local box = p.mailbox
  box[#box + 1] = msg
  wake(p)  -- the receiver re-scans with its own matcher (a matcher never runs in the sender)
end

function finish(p, reason)
  if p.status == "exited" then return end
  p.status = "exited"
  p.exit_reason = reason
  if p.name then names[p.name] = nil end
  for id in pairs(p.links) do
    local q = procs[id]
    if q then q.links[p.pid.id] = nil; exit_signal(q, p.pid, reason) end
  end
  for ref, watcher in pairs(p.monitored_by) do
    deliver(watcher, { "DOWN", ref, p.pid, reason })
    watcher.monitors[ref] = nil
  end
  procs[p.pid.id] = nil
end

local function check_killed(p)
  if p.kill_reason ~= nil then
    local r = p.kill_reason
    error(setmetatable({ actor_exit = r }, { __tostring = function() return "exit: " .. tostring(r) end }), 0)
  end
end

--- spawn(fn, ...) or spawn{ fn = f, args = {...}, link = bool, monitor = bool } -> pid[, ref]
function actor.spawn(spec, ...)
  local fn, args, opts
  if type(spec) == "function" then fn, args, opts = spec, table.pack(...), {}
  elseif type(spec) == "table" then
    fn, opts = spec.fn, spec
    args = spec.args and table.pack(table.unpack(spec.args)) or table.pack()
  end
  if type(fn) ~= "function" then fail("ACTOR_BAD_SPAWN", "spawn needs a function (or { fn = f, ... })") end
  local parent = current()
  reduce(parent, 10)
  local p = new_proc(nil)
  local ref
  if opts.link then p.links[parent.pid.id] = true; parent.links[p.pid.id] = true end
  if opts.monitor then
    next_ref = next_ref + 1
    ref = "#Ref<" .. next_ref .. ">"
    p.monitored_by[ref] = parent
    parent.monitors[ref] = p
  end
  -- the child starts after the parent's current step (spawn returns first, as in Erlang)
  queueMicrotask(function()
    if p.status == "exited" then return end
    if p.kill_reason ~= nil then finish(p, p.kill_reason) return end  -- killed before it ran
    async(function()
      p.co = coroutine.running()
      by_co[p.co] = p
      local ok, err = raw_pcall(fn, table.unpack(args, 1, args.n))
      local reason
      if ok then reason = "normal"
      elseif type(err) == "table" and err.actor_exit ~= nil then reason = err.actor_exit
      else reason = type(err) == "table" and err or tostring(err) end
      finish(p, reason)
      -- the host stopped the run (--timeout, Ctrl+C): that is the host's error, not this process's
      if not ok and watch and watch.fired and watch.fired() then error(err, 0) end
    end)()
  end)
  return p.pid, ref
end

function actor.spawn_link(fn, ...) return actor.spawn({ fn = fn, args = { ... }, link = true }) end
function actor.spawn_monitor(fn, ...) return actor.spawn({ fn = fn, args = { ... }, monitor = true }) end

function actor.self() return current().pid end

--- send(pid | name, msg): the message, deep-copied, appended to the mailbox (never blocks)
function actor.send(dest, msg)
  local p = current()
  check_killed(p)
  local target = lookup(dest)
  local copied = copy(msg, "message", 0, {})
  reduce(p, 1)
  if target == nil then
    if type(dest) == "string" then fail("ACTOR_NO_PROCESS", "no process registered as " .. dest) end
    return msg  -- a dead pid: dropped, like Erlang
  end
  deliver(target, copied)
  return msg
end

--- receive([matcher[, timeout_ms]]) -> the first matching message, or nil, "timeout"
function actor.receive(matcher, timeout)
  local p = current()
  check_killed(p)
  reduce(p, 1)
  if matcher ~= nil and type(matcher) ~= "function" then
    fail("ACTOR_BAD_RECEIVE", "receive's matcher is a function (or nil)")
  end
  -- one deadline for the whole receive: messages that do not match wake the process
  -- (it re-scans) without pushing the timeout back
  local deadline = timeout ~= nil and timeout > 0 and loop.now() + timeout or nil
  while true do
    local box = p.mailbox
    for i = 1, #box do
      local m = box[i]
      if matcher == nil or matcher(m) then
        table.remove(box, i)
        return m
      end
    end
    local left = deadline and deadline - loop.now()
    if timeout == 0 or (left ~= nil and left <= 0) then return nil, "timeout" end
    local w = {}
    await(Promise.new(function(resolve)
      w.resolve = resolve
      p.waiter = w
      if left ~= nil then
        w.timer = setTimeout(function() if p.waiter == w then p.waiter = nil end resolve() end, left)
      end
    end))
    p.waiter = nil
    check_killed(p)
  end
end

function actor.link(dest)
  local p, q = current(), lookup(dest)
  if q == nil then exit_signal(p, dest, "noproc"); check_killed(p); return true end
  p.links[q.pid.id] = true
  q.links[p.pid.id] = true
  return true
end

function actor.unlink(dest)
  local p, q = current(), lookup(dest)
  if q then q.links[p.pid.id] = nil; p.links[q.pid.id] = nil end
  return true
end

function actor.monitor(dest)
  local p = current()
  next_ref = next_ref + 1
  local ref = "#Ref<" .. next_ref .. ">"
  local q = lookup(dest)
  if q == nil then
    deliver(p, { "DOWN", ref, dest, "noproc" })
  else
    q.monitored_by[ref] = p
    p.monitors[ref] = q
  end
  return ref
end

function actor.demonitor(ref)
  local p = current()
  local q = p.monitors[ref]
  if q then q.monitored_by[ref] = nil; p.monitors[ref] = nil end
  return true
end

--- exit(reason) ends the calling process; exit(pid, reason) sends it an exit signal
function actor.exit(dest, reason)
  local p = current()
  if reason == nil and getmetatable(dest) ~= Pid then
    error(setmetatable({ actor_exit = dest or "normal" }, { __tostring = function() return "exit" end }), 0)
  end
  local q = lookup(dest)
  if q then exit_signal(q, p.pid, reason) end
  check_killed(p)
  return true
end

function actor.trap_exit(flag)
  local p = current()
  local old = p.trap
  p.trap = flag and true or false
  return old
end

function actor.register(name, dest)
  if type(name) ~= "string" or name == "" then fail("ACTOR_BAD_NAME", "a registered name is a non-empty string") end
  local q = lookup(dest)
  if q == nil then fail("ACTOR_NO_PROCESS", "no such process: " .. tostring(dest)) end
  if names[name] and names[name] ~= q then fail("ACTOR_NAME_TAKEN", name .. " is already registered") end
  names[name] = q
  q.name = name
  return true
end

function actor.unregister(name)
  local q = names[name]
  if q then q.name = nil; names[name] = nil end
  return q ~= nil
end

function actor.whereis(name)
  local q = names[name]
  return q and q.pid or nil
end

function actor.send_after(dest, msg, ms)
  local copied = copy(msg, "message", 0, {})
  return setTimeout(function()
    local q = lookup(dest)
    if q then deliver(q, copied) end
  end, ms or 0)
end

function actor.sleep(ms)
  local p = current()
  check_killed(p)
  await(Promise.new(function(resolve) setTimeout(resolve, ms or 0) end))
  check_killed(p)
end

--- processes() -> { { pid, status, mailbox, reductions, links, name }, ... } (live ones)
function actor.processes()
  local out = {}
  for _, p in pairs(procs) do reap(p) end
  for _, p in pairs(procs) do
    local links = {}
    for l in pairs(p.links) do links[#links + 1] = procs[l] and procs[l].pid or nil end
    out[#out + 1] = { pid = p.pid, status = p.waiter and "waiting" or p.status, mailbox = #p.mailbox,
                      reductions = p.reductions, links = links, name = p.name }
  end
  table.sort(out, function(a, b) return a.pid.id < b.pid.id end)
  return out
end

function actor.is_pid(v) return getmetatable(v) == Pid end

actor.REDUCTIONS = REDUCTIONS

-- OTP-style behaviours, loaded on first use: lua/hype/actor/server.lua, supervisor.lua
local behaviours = { server = "server", call = "server", cast = "server", reply = "server",
  upgrade_server = "server", supervisor = "supervisor", which_children = "supervisor",
  terminate_child = "supervisor", restart_child = "supervisor" }
setmetatable(actor, { __index = function(t, k)
  local sub = behaviours[k]
  if sub == nil then return nil end
  local m = require("hype.actor." .. sub)
  for name, from in pairs(behaviours) do if from == sub then rawset(t, name, m[name]) end end
  return m[k]
end })
return actor
