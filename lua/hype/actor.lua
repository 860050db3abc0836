-- hype.actor: Erlang-style processes on a run-queue scheduler driven by the runtime's
-- event loop (issue 11; design and measurements: docs/actors-design.md).
--
--   local actor = require("hype.actor")
--   local pid = actor.spawn(function(parent, n)
--     local msg = actor.receive()                         -- next message, any shape
--     actor.send(parent, { "pong", n, msg })
--   end, actor.self(), 1)
--   actor.send(pid, "ping")
--   local reply = actor.receive(function(m) return type(m) == "table" and m[1] == "pong" end, 1000)
--
-- A spawned process is a coroutine resumed by the scheduler below: `receive` with no
-- matching message parks it (no promise, no timer unless it has a timeout), `send` makes
-- the receiver runnable.  The scheduler runs as one event-loop job (a microtask when it
-- wakes up, a macrotask when it has used its time slice) so timers and I/O run between
-- slices.  Anything else that calls the API (the main chunk, an async function, an HTTP
-- handler) is a process too: it blocks on a promise instead.
--
-- Messages are deep-copied plain data (nil, booleans, numbers, strings, pids, tables of
-- those); functions, userdata and threads are refused at `send` with a typed error.  Exits
-- follow Erlang: a process ends "normal", with its error, or by `exit(pid, reason)`; linked
-- processes die with a non-normal reason unless they `trap_exit(true)`, which turns exit
-- signals into { "EXIT", pid, reason } messages; monitors get { "DOWN", ref, pid, reason }.
--
-- Fairness, as OTP: every API call costs reductions; a process that has used its budget
-- (REDUCTIONS, 4000) goes to the back of the run queue.  Code that never calls the API
-- (`while true do end`) is preempted by hype.preempt (a C count hook armed when a time
-- slice ends) where the runtime has it.  Processes woken by a message or a timer run
-- before ones that used up their budget or slice (a "sleeper credit": message round trips
-- stay short next to a busy process); they still pay reductions, so they cannot starve it.
local actor = {}

local loop = package.loaded["hype.loop"]
local AWAIT = loop.AWAIT   -- see loop.set_driver below
local setTimeout, clearTimeout, queueMicrotask = loop.setTimeout, loop.clearTimeout, loop.queueMicrotask
local Promise = loop.Promise

local type, pairs, next, error, setmetatable, getmetatable, tostring, select =
  type, pairs, next, error, setmetatable, getmetatable, tostring, select
local co_running, co_status, co_yield, co_close = coroutine.running, coroutine.status, coroutine.yield, coroutine.close
local clock, gccount = os.clock, collectgarbage

local REDUCTIONS = 4000
local MAX_DEPTH = 100
local SLICE_S = 0.002          -- a scheduler run gives the host loop a turn after this much CPU time (s)
local CHECK_EVERY = 128        -- resumes between clock reads in a run

-- the runtime's own pcall/resume (the user-visible ones let a fired TIMEOUT/INTERRUPTED through)
local watch = package.loaded["hype.watch"]
local raw = watch and watch.raw or {}
local raw_resume = raw.resume or coroutine.resume
local preempt = package.loaded["hype.preempt"]
local resume = preempt and preempt.resume or raw_resume
local PREEMPTED = preempt and preempt.PREEMPTED or {}

local procs = {}        -- id -> process record (live ones)
local plain = {}        -- pid -> record, for live scheduler processes without a protocol (send's fast path)
local by_co = setmetatable({}, { __mode = "k" })   -- coroutine -> process record
local names = {}        -- registered name -> process record
local next_id, next_ref = 0, 0

local Pid = {}
Pid.__index = Pid
Pid.__name = "pid"
Pid.__tostring = function(p) return "<" .. (p.node or actor.NODE) .. "." .. p.id .. ".0>" end
Pid.__eq = function(a, b) return a.id == b.id and (a.node or actor.NODE) == (b.node or actor.NODE) end
actor.NODE = 0          -- this scheduler's node number (set by the host for schedulers in workers)

local ErrorMT = { __tostring = function(e) return "[" .. e.code .. "] " .. e.message end, __name = "ActorError" }
local function typed(code, message, hint)
  return setmetatable({ code = code, message = message, hint = hint or "" }, ErrorMT)
end
local function fail(code, message, hint)
  error(typed(code, message, hint), 3)
end
actor._typed = typed

-- An exit raised inside a process (exit(reason), a kill): unwinds it, caught by the scheduler.
local ExitMT = { __tostring = function(e) return "exit: " .. tostring(e.actor_exit) end }
local function raise_exit(reason) error(setmetatable({ actor_exit = reason }, ExitMT), 0) end

------------------------------------------------------------------ process records
-- Fields (kept few: a parked process costs its coroutine plus this table):
--   pid, co, status ("runnable" | "running" | "waiting" | "exited"), budget, reductions,
--   box (mailbox array, from bh to bt), sched (true: a coroutine of this scheduler),
--   links/monitors/monitored_by (lazy), trap, name, kill_reason, timer, resume_ok/resume_v,
--   protocol, max_heap/heap, exit_reason.
local function new_proc(co, sched)
  next_id = next_id + 1
  local p = { pid = setmetatable({ id = next_id }, Pid), co = co, status = "runnable", budget = REDUCTIONS,
              reductions = 0, bh = 1, bt = 0, sched = sched }
  procs[next_id] = p
  if co and not sched then by_co[co] = p end   -- the scheduler's own processes are found as `cur`
  return p
end

-- The process being resumed by the scheduler (code running inside it, nested coroutines
-- included, belongs to it), else nil.
local cur = nil
-- await() inside a process yields to this scheduler (the process's own coroutine only)
loop.set_driver(function(co) return cur ~= nil and cur.co == co end)

-- the current process (the main chunk, or any coroutine, becomes one when it first asks)
local function current()
  local p = cur
  if p then return p end
  local co = co_running()
  p = by_co[co]
  if p == nil then p = new_proc(co, false) end
  return p
end

local finish  -- forward

-- a process whose coroutine ended outside the scheduler (a main chunk that returned or
-- was stopped by the host) has exited "normal"
local function reap(p)
  if p and not p.sched and p.co and p.status ~= "exited" and co_status(p.co) == "dead" then finish(p, "normal") end
  return p and p.status ~= "exited" and p or nil
end

-- Set by a transport between schedulers (workers, OS processes): remote(kind, dest_pid, ...)
-- carries a signal to a process of another node; see actor._internal.incoming for the kinds.
local remote_send

-- key of a remote pid in a links table (local links are keyed by their integer id)
local function remote_key(pid) return "n" .. tostring(pid.node) .. "." .. tostring(pid.id) end

local function lookup(dest)
  if getmetatable(dest) == Pid then
    if dest.node ~= nil and dest.node ~= actor.NODE then return nil end
    return reap(procs[dest.id])
  end
  if type(dest) == "string" then return reap(names[dest]) end
  return nil
end

-- deep copy of plain data.  The fast copy builds no paths; when it meets something it
-- cannot copy, `diagnose` walks the message again to name the offending field.
local function diagnose(v, path, depth, seen)
  local t = type(v)
  if t == "nil" or t == "boolean" or t == "number" or t == "string" then return end
  if t ~= "table" then
    fail("ACTOR_BAD_MESSAGE", "a message cannot carry a " .. t .. " (at " .. path .. ")",
         "Send plain data: tables, strings, numbers, booleans; pids are fine.")
  end
  if getmetatable(v) == Pid then return end
  if seen[v] then fail("ACTOR_BAD_MESSAGE", "message has a cycle at " .. path, "Messages are trees of plain data.") end
  if depth > MAX_DEPTH then fail("ACTOR_BAD_MESSAGE", "message nested deeper than " .. MAX_DEPTH .. " at " .. path) end
  seen[v] = true
  for k, x in next, v do
    local kt = type(k)
    if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then
      fail("ACTOR_BAD_MESSAGE", "a message key is a " .. kt .. " at " .. path, "Keys are strings, numbers or booleans.")
    end
    diagnose(x, path .. "." .. tostring(k), depth + 1, seen)
  end
  seen[v] = nil
end

local BAD = {}
local function copy(v, depth)
  if getmetatable(v) == Pid then return v end   -- pids are immutable: shared
  if depth > MAX_DEPTH then return BAD end       -- too deep, or a cycle
  local out = {}
  for k, x in next, v do
    local kt = type(k)
    if kt ~= "string" and kt ~= "number" and kt ~= "boolean" then return BAD end
    local xt = type(x)
    if xt == "table" then
      x = copy(x, depth + 1)
      if x == BAD then return BAD end
    elseif xt ~= "number" and xt ~= "string" and xt ~= "boolean" then
      return BAD
    end
    out[k] = x
  end
  return out
end
local function copy_message(v)
  local t = type(v)
  if t == "table" then
    local c = copy(v, 0)
    if c ~= BAD then return c end
  elseif t == "nil" or t == "boolean" or t == "number" or t == "string" then
    return v
  end
  diagnose(v, "message", 0, {})
  fail("ACTOR_BAD_MESSAGE", "message nested deeper than " .. MAX_DEPTH)
end
actor._copy = copy_message

------------------------------------------------------------------------ scheduler
-- Two FIFO queues: `woken` (processes made runnable by a message, a timer, an exit signal
-- or a settled await; new processes) runs before `yielded` (processes that used their
-- reduction budget or time slice).
local woken, wh, wt = {}, 1, 0
local yielded, yh, yt = {}, 1, 0
local pending = false        -- a scheduler run is queued on the event loop
local in_run = false
local run                    -- forward
local YIELD, BLOCK = {}, {}  -- what a process yields to the scheduler

local function request_run(macro)
  if pending or in_run then return end
  pending = true
  if macro then setTimeout(run, 0) else queueMicrotask(run) end
end

local function make_runnable(p)
  p.status = "runnable"
  wt = wt + 1
  woken[wt] = p
  if not (pending or in_run) then request_run(false) end
end

local foreign_woken = false   -- a process outside the scheduler was woken during a run

local function foreign_wake(p)
  local w = p.waiter
  if w then
    p.waiter = nil
    foreign_woken = true
    if w.timer then clearTimeout(w.timer) end
    w.resolve(true)
  end
end

-- a process blocked in receive/sleep (status "waiting"; not one awaiting a promise) goes
-- on: it re-checks its mailbox, then for a kill
local function wake(p)
  if p.status ~= "waiting" then return end
  if p.sched then
    if p.timer then clearTimeout(p.timer); p.timer = nil end
    make_runnable(p)
  elseif p.deliver_hook == nil then
    p.status = "runnable"
    foreign_wake(p)
  end
end

local function deliver(p, msg)
  if p.status == "exited" then return end
  local hook = p.deliver_hook   -- a process living in the host (Python): handed over
  if hook then return hook(msg) end
  local t = p.bt + 1
  local box = p.box
  if box == nil then box = {}; p.box = box end
  box[t] = msg
  p.bt = t
  if p.status == "waiting" then wake(p) end
end

local function exit_signal(target, from, reason)
  -- an exit signal from `from` (a pid) with `reason` arriving at process `target`
  if target.status == "exited" then return end
  if reason == "kill" then target.kill_reason = "killed"          -- cannot be trapped
  elseif target.trap then deliver(target, { "EXIT", from, reason }); return
  elseif reason == "normal" then return                            -- ignored unless trapping
  else target.kill_reason = reason end
  target.slow = true
  if target.on_kill then target.on_kill(target.kill_reason) end    -- a host (Python) process
  wake(target)  -- blocked in receive: it dies now
end
actor._exit_signal = exit_signal

finish = function(p, reason)
  if p.status == "exited" then return end
  p.status = "exited"
  plain[p.pid] = nil
  p.exit_reason = reason
  if p.timer then clearTimeout(p.timer); p.timer = nil end
  if p.name then names[p.name] = nil end
  if p.links then
    for id, link in pairs(p.links) do
      if link == true then
        local q = procs[id]
        if q and q.links then q.links[p.pid.id] = nil; exit_signal(q, p.pid, reason) end
      elseif remote_send then                     -- a link to another node
        remote_send("exit", link, p.pid, reason, true)
      end
    end
  end
  if p.monitored_by then
    for ref, watcher in pairs(p.monitored_by) do
      if getmetatable(watcher) == Pid then      -- a remote watcher
        if remote_send then remote_send("msg", watcher, { "DOWN", ref, p.pid, reason }) end
      else
        if watcher.monitors then watcher.monitors[ref] = nil end
        deliver(watcher, { "DOWN", ref, p.pid, reason })
      end
    end
  end
  procs[p.pid.id] = nil
  if p.on_exit then p.on_exit(reason) end
end
actor._finish = finish

local function exit_reason_of(err)
  if type(err) == "table" and getmetatable(err) == ExitMT then return err.actor_exit end
  if type(err) == "table" then return err end
  return tostring(err)
end

-- a process ends with the watch's error (--timeout, Ctrl+C): the host's, raised from run()
local host_error = nil

-- Like OTP's error logger: a process that fails with an error (not an exit signal, not
-- exit(reason)) gets a report on stderr with its traceback; actor.crash_reports = false
-- silences them.
actor.crash_reports = true
local stderr = io and io.stderr
local function crash_report(p, co, err)
  if stderr == nil then return end
  local ok, text = pcall(function()
    local msg = type(err) == "table" and getmetatable(err) == nil and err.code and err.message
      and ("[" .. tostring(err.code) .. "] " .. tostring(err.message)) or tostring(err)
    return "=CRASH REPORT==== process " .. tostring(p.pid) .. (p.name and (" (" .. p.name .. ")") or "")
      .. " exited with an error:\n" .. debug.traceback(co, msg) .. "\n"
  end)
  if ok then pcall(stderr.write, stderr, text) end
end

local function settle_await(p, ok, v)
  if p.status ~= "awaiting" then return end
  p.resume_ok, p.resume_v, p.slow = ok, v, true
  make_runnable(p)
end

-- file process p by what its resume returned; returns 1 when it used its budget, 2 when
-- it was preempted (a whole time slice), else nil
local function after(p, ok, a, b)
  local co = p.co
  if p.max_heap then
    p.heap = p.heap + (gccount("count") - p.heap_mark) * 1024
    if ok and p.heap > p.max_heap and co_status(co) ~= "dead" then
      co_close(co)
      return finish(p, "max_heap")
    end
  end
  if not ok then
    -- died of memory exhaustion: free its heap before its exit signals need memory
    if a == "not enough memory" then p.co = nil; co = nil; collectgarbage()
    elseif actor.crash_reports and getmetatable(a) ~= ExitMT then crash_report(p, co, a) end
    finish(p, exit_reason_of(a))
    if watch and watch.fired and watch.fired() then host_error = host_error or a end
    return
  end
  if a == BLOCK then
    -- a message, an exit signal or the timeout came between the mailbox check and the
    -- yield (the process was preempted there): it goes on at once
    if b ~= p.bt or p.kill_reason ~= nil or p.timed_out ~= nil then make_runnable(p)
    else p.status = "waiting" end
    return
  end
  if a == YIELD or a == PREEMPTED then
    p.status = "runnable"
    yt = yt + 1
    yielded[yt] = p
    return a == PREEMPTED and 2 or 1
  end
  if co_status(co) == "dead" then return finish(p, "normal") end
  if a == AWAIT then
    p.status = "awaiting"
    local pr = getmetatable(b) == Promise and b or Promise.resolve(b)
    pr:next(function(v) settle_await(p, true, v) end, function(r) settle_await(p, false, r) end)
    return
  end
  -- a bare coroutine.yield(...) in the process: erlang:yield()
  p.status = "runnable"
  yt = yt + 1
  yielded[yt] = p
end

-- resume a process whose record needs more than a plain resume (first run with args, a
-- settled await, a pending kill, a heap limit)
local function step_slow(p)
  local co = p.co
  p.slow = nil
  if p.kill_reason ~= nil then          -- killed while runnable: it never runs again
    co_close(co)
    return finish(p, p.kill_reason)
  end
  if p.max_heap then p.slow = true; p.heap_mark = gccount("count") end
  p.status = "running"
  local ok, a, b
  cur = p
  if p.resume_ok ~= nil then
    local rok, rv = p.resume_ok, p.resume_v
    p.resume_ok, p.resume_v = nil, nil
    ok, a, b = resume(co, rok, rv)
  elseif p.args then
    local args = p.args
    p.args = nil
    ok, a, b = resume(co, table.unpack(args, 1, args.n))
  else
    ok, a, b = resume(co)
  end
  cur = nil
  return after(p, ok, a, b)
end

local function run_queues()
  local t0 = clock()
  local n = 0
  while true do
    local p
    if wh <= wt then
      p = woken[wh]; woken[wh] = nil; wh = wh + 1
    elseif yh <= yt then
      p = yielded[yh]; yielded[yh] = nil; yh = yh + 1
    else
      break
    end
    if p.status == "runnable" then
      local used
      if p.slow == nil then
        p.status = "running"
        cur = p
        local ok, a, b = resume(p.co)
        cur = nil
        if ok and a == BLOCK and b == p.bt and p.kill_reason == nil and p.timed_out == nil then
          p.status = "waiting"
        else
          used = after(p, ok, a, b)
        end
      else
        used = step_slow(p)
      end
      if host_error or foreign_woken then break end   -- a woken main chunk/async caller goes next
      n = n + 1
      -- a preempted process used a whole slice: give the host loop (timers, I/O) a turn;
      -- so does a run longer than SLICE_S (checked after every used-up budget)
      if used or n >= CHECK_EVERY then
        n = 0
        if used == 2 or clock() - t0 >= SLICE_S then break end
      end
    end
  end
end

local raw_pcall = raw.pcall or pcall

run = function()
  pending = false
  if in_run then return end
  in_run = true
  foreign_woken = false
  -- the scheduler's own bookkeeping can fail only for want of memory (a DOWN message, a
  -- queue slot): the run ends, the error goes to the host, and the scheduler stays usable
  local ok, err = raw_pcall(run_queues)
  cur = nil
  if wh > wt then wh, wt = 1, 0 end
  if yh > yt then yh, yt = 1, 0 end
  in_run = false
  if not ok then
    if wh <= wt or yh <= yt then request_run(true) end
    error(err, 0)
  end
  if host_error then
    local e = host_error
    host_error = nil
    error(e, 0)
  end
  -- after a woken outsider: a microtask, queued behind its promise job; else a macrotask
  -- (timers and I/O get their turn between slices)
  if wh <= wt or yh <= yt then request_run(not foreign_woken) end
  foreign_woken = false
end

-- Fairness: count `n` reductions; past the budget, go to the back of the run queue (a
-- process of this scheduler) or give the event loop a macrotask turn (anything else).
local function reduce(p, n)
  local b = p.budget - n
  if b > 0 then p.budget = b; return end
  p.reductions = p.reductions + REDUCTIONS - b
  p.budget = REDUCTIONS
  if p.sched then
    co_yield(YIELD)
  elseif loop.in_async() then
    loop.await(Promise.new(function(resolve) setTimeout(resolve, 0) end))
  end
end

local function check_killed(p)
  if p.kill_reason ~= nil then raise_exit(p.kill_reason) end
end

-- park the current process until woken (a message, an exit signal) or `ms` elapse;
-- returns true when woken, false on timeout
local function park(p, ms)
  if p.sched then
    if co_running() ~= p.co then
      fail("ACTOR_NOT_ASYNC", "receive/sleep inside a coroutine nested in a process",
           "Block from the process's own code, not from a coroutine it resumes.")
    end
    p.status = "waiting"
    if ms ~= nil then
      local t
      t = setTimeout(function()
        if p.timer ~= t then return end   -- cleared, or an earlier park's
        p.timer = nil
        if p.status == "exited" then return end
        p.timed_out = true
        if p.status == "waiting" then make_runnable(p) end
      end, ms)
      p.timer = t
    end
    co_yield(BLOCK, p.bt)
    -- woken by anything (a message, an exit signal, the scheduler's re-check): this park's
    -- timer is done either way, so a later park never sees its timeout
    if p.timer then clearTimeout(p.timer); p.timer = nil end
    if p.timed_out then p.timed_out = nil; return false end
    return true
  end
  if not loop.in_async() then
    fail("ACTOR_NOT_ASYNC", "this process would block outside an async function",
         "Call receive/sleep from the main chunk, a spawned process or an async function.")
  end
  local w = {}
  p.status = "waiting"
  local woke = loop.await(Promise.new(function(resolve)
    w.resolve = resolve
    p.waiter = w
    if ms ~= nil then
      w.timer = setTimeout(function() if p.waiter == w then p.waiter = nil end resolve(false) end, ms)
    end
  end))
  p.waiter = nil
  if p.status == "waiting" then p.status = "runnable" end
  return woke and true or false
end

------------------------------------------------------------------------- the API
local function spawn_opts(spec, ...)
  if type(spec) == "function" then
    local n = select("#", ...)
    return spec, n > 0 and table.pack(...) or nil, nil
  elseif type(spec) == "table" and getmetatable(spec) == nil then
    local args = spec.args
    if args ~= nil and type(args) ~= "table" then return nil end
    return spec.fn, args and table.pack(table.unpack(args, 1, args.n or #args)) or nil, spec
  end
  return nil
end

local spawn_hooks = {}   -- functions(p, opts) run for a new process with options (deps, worker...)
actor._spawn_hooks = spawn_hooks

--- spawn(fn, ...) or spawn{ fn = f, args = {...}, link = bool, monitor = bool, protocol = P,
--- max_heap = bytes } -> pid (and a monitor ref with monitor = true)
function actor.spawn(spec, ...)
  local fn, args, opts = spawn_opts(spec, ...)
  if type(fn) ~= "function" then
    fail("ACTOR_BAD_SPAWN", "spawn needs a function (or { fn = f, ... })", "actor.spawn(function(...) ... end, ...)")
  end
  local parent = current()
  check_killed(parent)
  if opts and opts.worker ~= nil then
    -- another scheduler (a worker, an OS process): the host's transport (hypelua.actors._node)
    -- installs actor._spawn_remote, on first use through the "hype.actor.attach" hook
    local attach = actor._spawn_remote == nil and package.loaded["hype.actor.attach"]
    if type(attach) == "function" then attach() end
    if actor._spawn_remote == nil then
      fail("ACTOR_BAD_SPAWN", "spawn{ worker = ... }: this runtime has no transport to other schedulers",
           "Spawn without `worker`, or run under a host that provides one (hype run, the browser worker).")
    end
    return actor._spawn_remote(opts, fn, args)
  end
  -- the user-visible coroutine.create: it carries the runtime's deadline watch
  local co = coroutine.create(fn)
  local p = new_proc(co, true)
  p.args = args
  if args then p.slow = true end
  local ref
  if opts then
    if opts.link then
      p.links = { [parent.pid.id] = true }
      parent.links = parent.links or {}
      parent.links[p.pid.id] = true
    end
    if opts.monitor then
      next_ref = next_ref + 1
      ref = "#Ref<" .. next_ref .. ">"
      p.monitored_by = { [ref] = parent }
      parent.monitors = parent.monitors or {}
      parent.monitors[ref] = p
    end
    if opts.protocol ~= nil then
      if not actor.is_protocol(opts.protocol) then
        fail("ACTOR_BAD_SPAWN", "spawn's protocol is not an actor.protocol{...}", "protocol = actor.protocol{ ping = { n = 'integer' } }")
      end
      p.protocol = opts.protocol
    end
    if opts.max_heap ~= nil then
      if type(opts.max_heap) ~= "number" or opts.max_heap <= 0 then
        fail("ACTOR_BAD_SPAWN", "max_heap is a number of bytes > 0")
      end
      p.max_heap, p.heap, p.slow = opts.max_heap, 0, true
    end
    if opts.deps ~= nil and rawget(actor, "load") == nil then local _ = actor.load end  -- hype.actor.code's hook binds deps
    for i = 1, #spawn_hooks do spawn_hooks[i](p, opts) end
  end
  if p.protocol == nil then plain[p.pid] = p end
  -- the child starts after the parent's current step (spawn returns first, as in Erlang)
  make_runnable(p)
  reduce(parent, 10)
  return p.pid, ref
end

function actor.spawn_link(fn, ...) return actor.spawn({ fn = fn, args = table.pack(...), link = true }) end
function actor.spawn_monitor(fn, ...) return actor.spawn({ fn = fn, args = table.pack(...), monitor = true }) end

function actor.self() return current().pid end

--- send(pid | name, msg) -> msg: the message, deep-copied, appended to the receiver's
--- mailbox (never blocks).  Raises ACTOR_BAD_MESSAGE (functions, cycles...), ACTOR_PROTOCOL
--- (the receiver's protocol refuses it, naming the field), ACTOR_NO_PROCESS (an unknown
--- registered name).  A message to a dead pid is dropped, as in Erlang.
function actor.send(dest, msg)
  local p = cur or current()
  if p.kill_reason ~= nil then raise_exit(p.kill_reason) end
  local target = plain[dest]
  if target ~= nil then
    -- the common case: a live process of this scheduler, no protocol to check
    local copied = msg
    local t = type(msg)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then copied = copy_message(msg) end
    local i = target.bt + 1
    local box = target.box
    if box == nil then box = {}; target.box = box end
    box[i] = copied
    target.bt = i
    if target.status == "waiting" then
      if target.timer ~= nil then clearTimeout(target.timer); target.timer = nil end
      target.status = "runnable"
      wt = wt + 1
      woken[wt] = target
      if not (pending or in_run) then request_run(false) end
    end
    local b = p.budget - 1
    if b > 0 then p.budget = b else reduce(p, 1) end
    return msg
  end
  if getmetatable(dest) == Pid and dest.node == nil then
    target = procs[dest.id]
    if target and not target.sched then target = reap(target) end
  else
    target = lookup(dest)
  end
  local copied = msg
  local t = type(msg)
  if t ~= "number" and t ~= "string" and t ~= "boolean" then copied = copy_message(msg) end
  if target == nil then
    if getmetatable(dest) == Pid and dest.node ~= nil and dest.node ~= actor.NODE and remote_send then
      remote_send("msg", dest, copied)
    elseif type(dest) == "string" then
      fail("ACTOR_NO_PROCESS", "no process registered as " .. dest, "Check actor.whereis(name) first.")
    elseif getmetatable(dest) ~= Pid then
      fail("ACTOR_NO_PROCESS", "send's destination is a pid or a registered name, not a " .. type(dest))
    end
  else
    local proto = target.protocol
    if proto then
      local ok, err = proto.check(copied)
      if not ok then fail("ACTOR_PROTOCOL", err, proto.hint) end
    end
    deliver(target, copied)
  end
  local b = p.budget - 1
  if b > 0 then p.budget = b else reduce(p, 1) end
  return msg
end

--- receive([matcher[, timeout_ms]]) -> the first message `matcher` accepts (any message
--- without one), removed from the mailbox; nil, "timeout" after `timeout_ms` (0: poll).
function actor.receive(matcher, timeout)
  local p = cur or current()
  if p.kill_reason ~= nil then raise_exit(p.kill_reason) end
  if matcher == nil and timeout == nil then
    -- the common case: the next message, waiting as long as it takes
    local b = p.budget - 1
    if b > 0 then p.budget = b else reduce(p, 1) end
    while true do
      local bh, bt = p.bh, p.bt
      if bh <= bt then
        local box = p.box
        local m = box[bh]
        box[bh] = nil
        if bh == bt then p.bh, p.bt = 1, 0 else p.bh = bh + 1 end
        return m
      end
      if p.sched and co_running() == p.co then
        co_yield(BLOCK, bt)
      else
        park(p, nil)
      end
      if p.kill_reason ~= nil then raise_exit(p.kill_reason) end
    end
  end
  if matcher ~= nil and type(matcher) ~= "function" then
    fail("ACTOR_BAD_RECEIVE", "receive's matcher is a function (or nil)")
  end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    fail("ACTOR_BAD_RECEIVE", "receive's timeout is a number of ms >= 0 (or nil: wait forever)")
  end
  local b = p.budget - 1
  if b > 0 then p.budget = b else reduce(p, 1) end
  -- one deadline for the whole receive: messages that do not match wake the process
  -- (it re-scans) without pushing the timeout back
  local deadline = timeout ~= nil and timeout > 0 and loop.now() + timeout or nil
  local scanned = p.bh   -- messages before this index were already refused by the matcher
  while true do
    local box, bh, bt = p.box, p.bh, p.bt
    if matcher == nil then
      if bh <= bt then
        local m = box[bh]
        box[bh] = nil
        p.bh = bh + 1
        if bh == bt then p.bh, p.bt = 1, 0 end
        return m
      end
    else
      for i = scanned, bt do
        local m = box[i]
        if matcher(m) then
          -- close the gap: shift the older messages up by one
          for j = i, bh + 1, -1 do box[j] = box[j - 1] end
          box[bh] = nil
          p.bh = bh + 1
          if bh == bt then p.bh, p.bt = 1, 0 end
          return m
        end
      end
      scanned = bt + 1
    end
    local left = deadline and deadline - loop.now()
    if timeout == 0 or (left ~= nil and left <= 0) then return nil, "timeout" end
    park(p, left)
    if p.kill_reason ~= nil then raise_exit(p.kill_reason) end
    if scanned < p.bh then scanned = p.bh end
  end
end

local function add_link(p, q)
  p.links = p.links or {}
  q.links = q.links or {}
  p.links[q.pid.id] = true
  q.links[p.pid.id] = true
end

function actor.link(dest)
  local p = current()
  local q = lookup(dest)
  if q == nil then
    if getmetatable(dest) == Pid and dest.node ~= nil and dest.node ~= actor.NODE and remote_send then
      p.links = p.links or {}
      p.links[remote_key(dest)] = dest
      remote_send("link", dest, p.pid)
      return true
    end
    exit_signal(p, dest, "noproc"); check_killed(p); return true
  end
  add_link(p, q)
  return true
end

function actor.unlink(dest)
  local p, q = current(), lookup(dest)
  if q and q.links then q.links[p.pid.id] = nil end
  if q and p.links then p.links[q.pid.id] = nil end
  if q == nil and getmetatable(dest) == Pid and dest.node ~= nil and dest.node ~= actor.NODE and p.links then
    p.links[remote_key(dest)] = nil
    if remote_send then remote_send("unlink", dest, p.pid) end
  end
  return true
end

local function new_ref()
  next_ref = next_ref + 1
  return "#Ref<" .. actor.NODE .. "." .. next_ref .. ">"
end
actor._new_ref = new_ref

--- monitor(pid | name) -> ref; the watcher gets { "DOWN", ref, pid, reason } once
function actor.monitor(dest)
  local p = current()
  local ref = new_ref()
  local q = lookup(dest)
  if q == nil then
    if getmetatable(dest) == Pid and dest.node ~= nil and dest.node ~= actor.NODE and remote_send then
      p.monitors = p.monitors or {}
      p.monitors[ref] = dest
      remote_send("monitor", dest, p.pid, ref)
      return ref
    end
    deliver(p, { "DOWN", ref, dest, "noproc" })
  else
    q.monitored_by = q.monitored_by or {}
    q.monitored_by[ref] = p
    p.monitors = p.monitors or {}
    p.monitors[ref] = q
  end
  return ref
end

function actor.demonitor(ref)
  local p = current()
  local q = p.monitors and p.monitors[ref]
  if q then
    if getmetatable(q) ~= Pid then
      if q.monitored_by then q.monitored_by[ref] = nil end
    elseif remote_send then
      remote_send("demonitor", q, p.pid, ref)
    end
    p.monitors[ref] = nil
  end
  return true
end

--- exit(reason) ends the calling process; exit(pid, reason) sends it an exit signal
function actor.exit(dest, reason)
  local p = current()
  if reason == nil and getmetatable(dest) ~= Pid then raise_exit(dest == nil and "normal" or dest) end
  local q = lookup(dest)
  if q then exit_signal(q, p.pid, reason)
  elseif getmetatable(dest) == Pid and dest.node ~= nil and dest.node ~= actor.NODE and remote_send then
    remote_send("exit", dest, p.pid, reason, false)
  end
  check_killed(p)
  return true
end

function actor.trap_exit(flag)
  local p = current()
  local old = p.trap or false
  p.trap = flag and true or nil
  return old
end

function actor.register(name, dest)
  if type(name) ~= "string" or name == "" then fail("ACTOR_BAD_NAME", "a registered name is a non-empty string") end
  local q = lookup(dest)
  if q == nil then fail("ACTOR_NO_PROCESS", "no such process: " .. tostring(dest)) end
  if names[name] and names[name] ~= q then fail("ACTOR_NAME_TAKEN", name .. " is already registered",
    "actor.unregister(name) first, or pick another name") end
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
  local q = reap(names[name])
  return q and q.pid or nil
end

--- send_after(pid | name, msg, ms) -> timer (clearTimeout(timer) cancels it)
function actor.send_after(dest, msg, ms)
  local copied = copy_message(msg)
  return setTimeout(function()
    local q = lookup(dest)
    if q then deliver(q, copied) end
  end, ms or 0)
end

--- sleep(ms): park the calling process for `ms` milliseconds (messages stay queued)
function actor.sleep(ms)
  local p = current()
  check_killed(p)
  local deadline = loop.now() + (ms or 0)
  while true do
    local left = deadline - loop.now()
    if left <= 0 and ms ~= nil and ms > 0 then break end
    if not park(p, left > 0 and left or 0) then break end   -- woken early (a message): sleep on
    check_killed(p)
  end
  check_killed(p)
end

--- yield(): let the other runnable processes run first (erlang:yield/0)
function actor.yield()
  local p = current()
  p.budget = 0
  reduce(p, 0)
end

--- processes() -> { { pid, status, mailbox, reductions, memory, links, monitors, name }, ... }
--- (live processes; memory in bytes where it is tracked (max_heap), else nil)
function actor.processes()
  local out = {}
  for _, p in pairs(procs) do reap(p) end
  for _, p in pairs(procs) do
    local links = {}
    for l, v in pairs(p.links or {}) do
      if v == true then links[#links + 1] = procs[l] and procs[l].pid or nil else links[#links + 1] = v end
    end
    local mons = 0
    for _ in pairs(p.monitors or {}) do mons = mons + 1 end
    out[#out + 1] = { pid = p.pid, status = p.status, mailbox = p.bt - p.bh + 1, reductions = p.reductions + REDUCTIONS - p.budget,
                      memory = p.heap, links = links, monitors = mons, name = p.name,
                      kind = p.deliver_hook and "python" or (p.sched and "lua" or "main") }
  end
  table.sort(out, function(a, b)   -- ids: integers, or strings (processes spawned from another node)
    local x, y = a.pid.id, b.pid.id
    if type(x) == type(y) then return x < y end
    return type(x) == "number"
  end)
  return out
end

function actor.is_pid(v) return getmetatable(v) == Pid end

--- pid(id[, node]) -> the pid with that number (e.g. from `<0.42.0>`)
function actor.pid(id, node)
  if node == nil or node == actor.NODE then return procs[id] and procs[id].pid or setmetatable({ id = id }, Pid) end
  return setmetatable({ id = id, node = node }, Pid)
end

------------------------------------------------------------------- typed protocols
-- actor.protocol{ ping = { from = "pid", n = "integer" }, stop = {} }: a message is
-- { "ping", from = pid, n = 1 } (its tag at [1], named fields) or the bare tag "stop" for
-- a message without fields.  Field types: "pid", "integer", "number", "string", "boolean",
-- "table", "any"; a trailing "?" makes a field optional; a table is a nested record spec;
-- { "T" } (one element) is a list of T.  A JSON Schema (a table with `type`, `properties`
-- or `$schema`) is checked by the host's validator instead.
local Protocol = {}
Protocol.__index = Protocol
Protocol.__name = "protocol"

local SCALARS = { integer = true, number = true, string = true, boolean = true, table = true, any = true, pid = true }

local function check_field(spec, v, path)
  if type(spec) == "string" then
    local opt = spec:sub(-1) == "?"
    local want = opt and spec:sub(1, -2) or spec
    if v == nil then
      if opt or want == "any" then return true end
      return false, path .. " is missing (expected " .. want .. ")"
    end
    local ok
    if want == "any" then ok = true
    elseif want == "pid" then ok = getmetatable(v) == Pid
    elseif want == "integer" then ok = math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v))
    else ok = type(v) == want end
    if not ok then
      local got = getmetatable(v) == Pid and "pid" or math.type(v) or type(v)
      return false, path .. ": expected " .. want .. ", got " .. got
    end
    return true
  end
  -- a nested spec
  if type(v) ~= "table" or getmetatable(v) == Pid then
    return false, path .. ": expected a table, got " .. (getmetatable(v) == Pid and "pid" or type(v))
  end
  if #spec == 1 and next(spec, 1) == nil then   -- { "T" }: a list of T
    for i = 1, #v do
      local ok, err = check_field(spec[1], v[i], path .. "[" .. i .. "]")
      if not ok then return false, err end
    end
    return true
  end
  for k, s in pairs(spec) do
    local ok, err = check_field(s, v[k], path .. "." .. tostring(k))
    if not ok then return false, err end
  end
  for k in pairs(v) do
    if spec[k] == nil then return false, path .. "." .. tostring(k) .. " is not in the protocol" end
  end
  return true
end

local function validate_spec(spec, path)
  if type(spec) == "string" then
    local want = spec:sub(-1) == "?" and spec:sub(1, -2) or spec
    if not SCALARS[want] then
      error(typed("ACTOR_BAD_PROTOCOL", path .. ": unknown field type '" .. spec .. "'",
        "Types: pid, integer, number, string, boolean, table, any (add ? for optional)."), 3)
    end
  elseif type(spec) == "table" then
    for k, s in pairs(spec) do validate_spec(s, path .. "." .. tostring(k)) end
  else
    error(typed("ACTOR_BAD_PROTOCOL", path .. ": a field type is a string or a table"), 3)
  end
end

--- protocol{ tag = { field = "type", ... }, ... } or protocol(json_schema) -> a protocol
--- for spawn{ protocol = P }; P.check(msg) -> true | false, "message.field: why"
function actor.protocol(def)
  if type(def) ~= "table" then error(typed("ACTOR_BAD_PROTOCOL", "protocol{...} takes a table"), 2) end
  local P = setmetatable({}, Protocol)
  if def.type ~= nil or def.properties ~= nil or def["$schema"] ~= nil or def.oneOf ~= nil or def.anyOf ~= nil then
    -- checked by the host (Python's jsonschema): compile(schema) -> id | nil, why;
    -- check(id, msg) -> nil | "where: why" (pids travel as their "<0.N.0>" strings)
    local host = package.loaded["hype.actor.jsonschema"]
    if not host then error(typed("ACTOR_BAD_PROTOCOL", "JSON Schema protocols need the host's validator"), 2) end
    local id, why = host.compile(def)
    if id == nil then error(typed("ACTOR_BAD_PROTOCOL", "not a valid JSON Schema: " .. tostring(why)), 2) end
    local function plain(v, depth)
      if getmetatable(v) == Pid then return tostring(v) end
      if type(v) ~= "table" or depth > MAX_DEPTH then return v end
      local out = {}
      for k, x in pairs(v) do out[k] = plain(x, depth + 1) end
      return out
    end
    P.hint = "The receiver's protocol is a JSON Schema."
    P.check = function(msg)
      local err = host.check(id, plain(msg, 0))
      if err == nil then return true end
      return false, "message" .. err
    end
    return P
  end
  local tags = {}
  for tag, fields in pairs(def) do
    if type(tag) ~= "string" then error(typed("ACTOR_BAD_PROTOCOL", "protocol tags are strings"), 2) end
    if type(fields) ~= "table" then error(typed("ACTOR_BAD_PROTOCOL", "protocol tag " .. tag .. " maps to a table of fields"), 2) end
    validate_spec(fields, tag)
    tags[#tags + 1] = tag
  end
  table.sort(tags)
  P.tags = tags
  P.hint = "This process accepts: " .. table.concat(tags, ", ") .. " (as { \"tag\", field = value, ... })."
  P.check = function(msg)
    local tag, body
    if type(msg) == "string" then tag = msg
    elseif type(msg) == "table" and getmetatable(msg) == nil then tag, body = msg[1], msg
    else return false, "message: expected a tagged table { \"tag\", ... }, got " .. (getmetatable(msg) == Pid and "pid" or type(msg)) end
    local fields = def[tag]
    if type(tag) ~= "string" or fields == nil then
      return false, "message: unknown tag '" .. tostring(tag) .. "'"
    end
    if body == nil then
      for k, s in pairs(fields) do
        if not (type(s) == "string" and (s:sub(-1) == "?" or s == "any")) then
          return false, "message." .. tostring(k) .. " is missing (expected " .. tostring(s) .. ")"
        end
      end
      return true
    end
    for k, s in pairs(fields) do
      local ok, err = check_field(s, body[k], "message." .. tostring(k))
      if not ok then return false, err end
    end
    for k in pairs(body) do
      if k ~= 1 and fields[k] == nil then return false, "message." .. tostring(k) .. " is not in the protocol for '" .. tag .. "'" end
    end
    return true
  end
  return P
end

function actor.is_protocol(v) return getmetatable(v) == Protocol end

--------------------------------------------------------------- host integration
-- For hosts (Python processes, transports between schedulers); not part of the Lua API.
actor._internal = {
  procs = procs, current = current, deliver = deliver, lookup = lookup, new_proc = new_proc,
  wake = wake, Pid = Pid, names = names,
  set_remote_send = function(fn) remote_send = fn end,
  --- incoming(kind, dest, ...): a signal from another node for local process `dest` (a pid):
  ---   "msg", dest, msg            a message (already a copy)
  ---   "link", dest, from          link from remote `from` (dest gone: an exit "noproc" goes back)
  ---   "unlink", dest, from
  ---   "monitor", dest, from, ref  (dest gone: { "DOWN", ref, dest, "noproc" } goes back)
  ---   "demonitor", dest, from, ref
  ---   "exit", dest, from, reason, is_link
  incoming = function(kind, dest, a, b, c)
    local q = procs[dest.id]
    if q and q.status == "exited" then q = nil end
    if kind == "msg" then
      if q then deliver(q, a) end
    elseif kind == "link" then
      if q then q.links = q.links or {}; q.links[remote_key(a)] = a
      elseif remote_send then remote_send("exit", a, dest, "noproc", true) end
    elseif kind == "unlink" then
      if q and q.links then q.links[remote_key(a)] = nil end
    elseif kind == "monitor" then
      if q then q.monitored_by = q.monitored_by or {}; q.monitored_by[b] = a
      elseif remote_send then remote_send("msg", a, { "DOWN", b, dest, "noproc" }) end
    elseif kind == "demonitor" then
      if q and q.monitored_by then q.monitored_by[b] = nil end
    elseif kind == "exit" then
      if q then
        if c and q.links then q.links[remote_key(a)] = nil end
        exit_signal(q, a, b)
      end
    end
  end,
  --- node_down(node): the link to `node` is gone: local processes linked to its processes
  --- get exit signals, monitors of them DOWN messages, both with reason "noconnection"
  node_down = function(node)
    for _, q in pairs(procs) do
      if q.links then
        for key, l in pairs(q.links) do
          if l ~= true and l.node == node then q.links[key] = nil; exit_signal(q, l, "noconnection") end
        end
      end
      if q.monitors then
        for ref, w in pairs(q.monitors) do
          if getmetatable(w) == Pid and w.node == node then
            q.monitors[ref] = nil
            deliver(q, { "DOWN", ref, w, "noconnection" })
          end
        end
      end
      if q.monitored_by then
        for ref, w in pairs(q.monitored_by) do
          if getmetatable(w) == Pid and w.node == node then q.monitored_by[ref] = nil end
        end
      end
    end
  end,
  add_link = add_link,
  remote_key = remote_key,
  --- spawn_as(id, fn, args): a process of this scheduler under a given id (a spawn request
  --- from another node, which chose the id in its own namespace: a string); returns its record
  spawn_as = function(id, fn, args)
    local p = { pid = setmetatable({ id = id }, Pid), co = coroutine.create(fn), status = "runnable",
                budget = REDUCTIONS, reductions = 0, bh = 1, bt = 0, sched = true, args = args,
                slow = args and true or nil }
    procs[id] = p
    plain[p.pid] = p
    make_runnable(p)
    return p
  end,
  --- with(p, fn, ...): call fn(...) as process p (a host process acting through the API)
  with = function(p, fn, ...)
    local saved = cur
    cur = p
    local r = table.pack(pcall(fn, ...))
    cur = saved
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end,
  running = function() return cur end,   -- the process the scheduler is running, else nil (no record made)
}

actor.REDUCTIONS = REDUCTIONS

-- OTP-style behaviours, loaded on first use: lua/hype/actor/server.lua, supervisor.lua
local behaviours = { server = "server", call = "server", cast = "server", reply = "server",
  upgrade_server = "server", supervisor = "supervisor", which_children = "supervisor",
  terminate_child = "supervisor", restart_child = "supervisor",
  load = "code", versions = "code", require = "code", upgrade = "code" }
setmetatable(actor, { __index = function(t, k)
  local sub = behaviours[k]
  if sub == nil then return nil end
  local m = require("hype.actor." .. sub)
  for name, from in pairs(behaviours) do if from == sub then rawset(t, name, m[name]) end end
  return m[k]
end })
return actor
