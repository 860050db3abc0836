-- hype.actor.server: OTP's gen_server on top of hype.actor (issue 11, item 2).
--
--   local actor = require("hype.actor")
--   local counter = actor.server{
--     init = function(n) return n end,                                -- -> state
--     handle_call = function(req, from, n)
--       if req == "get" then return "reply", n, n end
--       return "stop", "normal", "bye", n
--     end,
--     handle_cast = function(k, n) return "noreply", n + k end,
--   }
--   local pid = counter:start_link(10)        -- or counter:start(10); nil, reason if init fails
--   actor.cast(pid, 5)
--   assert(actor.call(pid, "get") == 15)      -- actor.call(pid | name, request[, timeout_ms = 5000])
--
-- Callbacks (all optional but handle_call, which a server that gets calls needs) answer
-- with MULTIPLE RETURN VALUES led by a tag string, Erlang's tuples spelled the Lua way:
--   init(...)                       -> state                       | "stop", reason
--   handle_call(request, from, s)   -> "reply", reply, s2          | "noreply", s2
--                                    | "stop", reason, reply, s2   | "stop", reason, s2   (no reply;
--                                      the two are told apart by the number of values returned)
--   handle_cast(msg, s)             -> "noreply", s2               | "stop", reason, s2
--   handle_info(msg, s)             -> "noreply", s2               | "stop", reason, s2
--   terminate(reason, s)            (return value ignored)
--   code_change(old_vsn, s, extra)  -> s2
-- init's "stop" form needs the second value: `return "stop"` alone is the state "stop".
-- A missing handle_cast / handle_info ignores the message; a missing code_change keeps the
-- state.  Any other return ends the server with reason { "bad_return_value", tag }.
--
-- `from` (handle_call's second argument) is an opaque { pid, ref } table: a server that
-- answers "noreply" replies later with actor.reply(from, value), from any process.
-- Messages that are neither calls nor casts go to handle_info, including
-- { "EXIT", pid, reason } once the server traps exits (call actor.trap_exit(true) in init).
-- A server started with start_link that traps exits and gets an exit signal from the
-- process that started it (its supervisor) runs terminate(reason, state) and exits with
-- that reason, like OTP.  A Lua error in a callback runs terminate(error, state) and ends
-- only the server process, with the error as its exit reason (linked processes and
-- monitors see it; the caller of actor.call gets ACTOR_CALL_FAILED).
--
-- start / start_link run init in the new process and return once init has returned:
-- pid on success; nil, reason when init raised or returned "stop", reason (the process
-- then exits with reason; start_link unlinks first so its caller is not killed), or
-- nil, { "already_started", pid } when the module's `name` is taken.
--
-- actor.call raises typed errors: ACTOR_CALL_TIMEOUT (no reply in time; a late reply is
-- dropped, never left in the caller's mailbox), ACTOR_CALL_FAILED (the server ended
-- before replying; err.reason is its exit reason), ACTOR_NO_PROCESS (no such process or
-- name; err.reason == "noproc").  actor.cast never fails: a dead target drops the message.
--
-- Hot upgrade: actor.upgrade_server(pid, new_module, extra, timeout_ms) sends the server
-- { "$upgrade", ref, from, key, extra } (the module itself cannot travel in a message: it
-- waits under `key` in this module); the server calls new_module.code_change(old_vsn,
-- state, extra) (old_vsn: the old module's `vsn` field) and goes on with the new module's
-- callbacks and the new state, answering { "$upgraded", ref, ok, err }.  upgrade_server
-- returns true, or false, err when code_change raised (the server keeps the old module
-- and state).  Wire format of the other messages: { "$call", ref, from, request },
-- { "$cast", msg }, replies { "$reply", ref, value }.
local actor = require("hype.actor")

local M = {}

local spawn, send, receive, self, monitor, demonitor, whereis, is_pid, unlink, exit =
  actor.spawn, actor.send, actor.receive, actor.self, actor.monitor, actor.demonitor,
  actor.whereis, actor.is_pid, actor.unlink, actor.exit
local pack, unpack = table.pack, table.unpack

local function typed(code, message, hint, reason)
  return setmetatable({ code = code, message = message, hint = hint or "", reason = reason },
    { __tostring = function(e) return "[" .. e.code .. "] " .. e.message end })
end

local function describe(reason)
  if type(reason) == "table" and getmetatable(reason) == nil then
    local parts = {}
    for i = 1, #reason do parts[i] = describe(reason[i]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(reason)
end

-- the exit reason an error stands for (what hype.actor's spawn makes of it)
local function reason_of(err)
  if type(err) == "table" and err.actor_exit ~= nil then return err.actor_exit end
  if type(err) == "table" then return err end
  return tostring(err)
end

local abandoned = {}  -- call refs whose caller gave up (a late reply is dropped)
local upgrades = {}   -- key -> module waiting to be picked up by the server it was sent to
local next_key = 0

local function timeout_of(t)
  if t == nil then return 5000 end
  if t == "infinity" or t == math.huge then return nil end
  return t
end

local Server = {}
Server.__index = Server

--- actor.server{ init =, handle_call =, handle_cast =, handle_info =, terminate =,
--- code_change =, name =, vsn = } -> a server module (start / start_link methods)
function M.server(spec)
  if type(spec) ~= "table" then
    error(typed("ACTOR_BAD_SERVER", "actor.server takes a table of callbacks"), 2)
  end
  local mod = {}
  for k, v in pairs(spec) do mod[k] = v end
  return setmetatable(mod, Server)
end

-- the server's body: callbacks run here, in the server's own process
local function main(starter, mod, linked, args)
  local me = self()
  local parent = linked and starter or nil
  local state

  local function init_fail(reason)
    if linked then unlink(starter) end
    if not pcall(send, starter, { "$ack", me, false, reason }) then
      send(starter, { "$ack", me, false, describe(reason) })
    end
    exit(reason)
  end

  local function terminate(reason)
    if mod.terminate then
      local ok, err = pcall(mod.terminate, reason, state)
      if not ok then error(err, 0) end  -- terminate's own error becomes the exit reason
    end
  end

  local function stop(reason)
    terminate(reason)
    exit(reason)
  end

  -- run a callback; on an error, terminate(error) then end the process with it
  local function invoke(fn, ...)
    local r = pack(pcall(fn, ...))
    if not r[1] then
      local err = r[2]
      pcall(mod.terminate or function() end, reason_of(err), state)
      error(err, 0)
    end
    return r
  end

  local function bad_return(tag)
    local reason = { "bad_return_value", tag }
    pcall(mod.terminate or function() end, reason, state)
    exit(reason)
  end

  if mod.name ~= nil then
    if not pcall(actor.register, mod.name, me) then init_fail({ "already_started", whereis(mod.name) }) end
  end
  local r = pack(pcall(mod.init or function(s) return s end, unpack(args, 1, args.n)))
  if not r[1] then init_fail(reason_of(r[2])) end
  if r[2] == "stop" and r.n >= 3 then init_fail(r[3]) end
  state = r[2]
  send(starter, { "$ack", me, true })

  -- handle_cast / handle_info answers
  local function async(fn, msg)
    if fn == nil then return end
    local a = invoke(fn, msg, state)
    if a[2] == "noreply" then state = a[3]
    elseif a[2] == "stop" then state = a[4]; stop(a[3])
    else bad_return(a[2]) end
  end

  while true do
    local m = receive()
    local tag = type(m) == "table" and m[1] or nil
    if tag == "$call" then
      local from = m[3]
      if mod.handle_call == nil then
        invoke(error, "server has no handle_call for " .. describe(m[4]), 0)
      end
      local a = invoke(mod.handle_call, m[4], from, state)
      if a[2] == "reply" then
        state = a[4]
        M.reply(from, a[3])
      elseif a[2] == "noreply" then
        state = a[3]
      elseif a[2] == "stop" then
        if a.n >= 5 then
          state = a[5]
          terminate(a[3])
          M.reply(from, a[4])
          exit(a[3])
        else
          state = a[4]
          stop(a[3])
        end
      else
        bad_return(a[2])
      end
    elseif tag == "$cast" then
      async(mod.handle_cast, m[2])
    elseif tag == "$upgrade" then
      local ref, from, key, extra = m[2], m[3], m[4], m[5]
      local new = upgrades[key]
      upgrades[key] = nil
      local ok, res
      if new == nil then ok, res = false, "the upgrade was abandoned"
      else ok, res = pcall(new.code_change or function(_, s) return s end, mod.vsn, state, extra) end
      if ok then mod, state = new, res end
      send(from, { "$upgraded", ref, ok, (not ok) and describe(reason_of(res)) or nil })
    elseif tag == "EXIT" and parent ~= nil and m[2] == parent then
      stop(m[3])
    else
      async(mod.handle_info, m)
    end
  end
end

local function start(mod, linked, ...)
  local me = self()
  -- `server = mod` lets spawn hooks see the module (hype.actor.code binds its version)
  local pid, mref = spawn({ fn = main, args = { me, mod, linked, pack(...) }, link = linked, monitor = true,
                            server = mod })
  local ack = receive(function(m)
    return type(m) == "table" and ((m[1] == "$ack" and m[2] == pid) or (m[1] == "DOWN" and m[2] == mref))
  end)
  if ack[1] == "$ack" and ack[3] then
    demonitor(mref)
    receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == mref end, 0)
    return pid
  end
  if ack[1] == "DOWN" then return nil, ack[4] end
  -- init failed: wait until the process is gone (its name is free again) before answering
  receive(function(m) return type(m) == "table" and m[1] == "DOWN" and m[2] == mref end)
  return nil, ack[4]
end

--- srv:start(...) / srv:start_link(...) -> pid | nil, reason
function Server:start(...) return start(self, false, ...) end
function Server:start_link(...) return start(self, true, ...) end

local function resolve(dest, what)
  if type(dest) == "string" then
    local pid = whereis(dest)
    if pid == nil then
      error(typed("ACTOR_NO_PROCESS", what .. ": no process registered as " .. dest,
        "Start the server (and give it that name) before calling it.", "noproc"), 3)
    end
    return pid
  end
  if not is_pid(dest) then
    error(typed("ACTOR_NO_PROCESS", what .. ": not a pid or a registered name: " .. tostring(dest), "", "noproc"), 3)
  end
  return dest
end

-- send { tag, ref, from, ... } to `pid` and wait for { answer, ref, ... } or its DOWN
local function request(pid, what, timeout, build, answer)
  if pid == self() then
    error(typed("ACTOR_CALL_FAILED", what .. ": a process cannot call itself", "", "calling_self"), 3)
  end
  local ref = monitor(pid)
  send(pid, build(ref, { self(), ref }))
  local function match(m)
    return type(m) == "table" and m[2] == ref and (m[1] == answer or m[1] == "DOWN")
  end
  local m = receive(match, timeout_of(timeout))
  demonitor(ref)
  if m ~= nil and m[1] ~= "DOWN" then  -- a server that replied then ended: drop its DOWN (demonitor's flush)
    receive(function(d) return type(d) == "table" and d[1] == "DOWN" and d[2] == ref end, 0)
  end
  if m == nil then
    -- a reply that raced the timeout is dropped now, a later one by actor.reply
    if receive(match, 0) == nil then abandoned[ref] = true end
    error(typed("ACTOR_CALL_TIMEOUT", what .. " to " .. tostring(pid) .. " got no reply within "
      .. tostring(timeout_of(timeout)) .. " ms", "Pass a longer timeout (or \"infinity\"), or make the "
      .. "server answer sooner (return \"noreply\" and actor.reply later).", "timeout"), 3)
  end
  if m[1] == "DOWN" then
    local reason = m[4]
    if reason == "noproc" then
      error(typed("ACTOR_NO_PROCESS", what .. ": no such process " .. tostring(pid),
        "The server is not running (it ended before the call).", "noproc"), 3)
    end
    error(typed("ACTOR_CALL_FAILED", what .. " to " .. tostring(pid) .. " failed: the server exited with "
      .. describe(reason), "See the server's exit reason (err.reason).", reason), 3)
  end
  return m
end

--- actor.call(pid | name, request[, timeout_ms = 5000 | "infinity"]) -> the server's reply
function M.call(dest, req, timeout)
  local pid = resolve(dest, "call")
  local m = request(pid, "call", timeout, function(ref, from) return { "$call", ref, from, req } end, "$reply")
  return m[3]
end

--- actor.cast(pid | name, msg): fire and forget (a dead target or unknown name drops it)
function M.cast(dest, msg)
  local pid = dest
  if type(dest) == "string" then pid = whereis(dest) end
  if is_pid(pid) then send(pid, { "$cast", msg }) end
  return true
end

--- actor.reply(from, value): answer a call handle_call left with "noreply"
function M.reply(from, value)
  local ref = from[2]
  if abandoned[ref] then abandoned[ref] = nil; return true end
  send(from[1], { "$reply", ref, value })
  return true
end

--- actor.upgrade_server(pid | name, new_module[, extra[, timeout_ms = 5000]]) -> true | false, err
function M.upgrade_server(dest, new, extra, timeout)
  if type(new) ~= "table" then
    error(typed("ACTOR_BAD_SERVER", "upgrade_server takes the new server module (a table)"), 2)
  end
  local pid = resolve(dest, "upgrade_server")
  next_key = next_key + 1
  local key = "#Upgrade<" .. next_key .. ">"
  upgrades[key] = new
  local ok, m = pcall(request, pid, "upgrade_server", timeout,
    function(ref, from) return { "$upgrade", ref, from[1], key, extra } end, "$upgraded")
  upgrades[key] = nil
  if not ok then error(m, 0) end
  if m[3] then return true end
  return false, m[4]
end

M.Server = Server
return M
