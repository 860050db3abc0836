-- hype.loop: microtasks, timers, Promise, async/await -- all inside Lua.
--
-- SPEC rule 3 (hot loops stay on one side of the bridge): the microtask
-- queue, promise resolution and timer dispatch run here.  The host (asyncio
-- natively, Pyodide's WebLoop in the browser) only wakes us up: it calls
-- `tick(now_ms, inbox)` once per timer batch and is told when to call next.
--
-- Executed once per VM with a `host` table of Python callables:
--   host.now()            -> current host time in ms (monotonic, float)
--   host.wake(due_ms)     ask for a tick at `due_ms` (called only when the
--                         earliest due time moved earlier while outside a tick)
--   host.soon()           ask for a tick as soon as possible (microtasks were
--                         queued outside a tick; called once per batch)
--
-- Returns the module table (also stored in package.loaded["hype.loop"]).
--
-- Promise methods: `then` is a Lua keyword, so chain with `p:next(onFulfilled,
-- onRejected)` (alias `p:andThen`); `p["then"]` exists too, for thenable
-- interop (Promises/A+ 2.3.3).

local host = ...
local host_now, host_wake, host_soon = host.now, host.wake, host.soon

local type, pcall, error, select, setmetatable, getmetatable, rawget, tostring =
  type, pcall, error, select, setmetatable, getmetatable, rawget, tostring
local co_create, co_resume, co_yield, co_running, co_status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running, coroutine.status
local traceback = debug.traceback

local M = {}

-------------------------------------------------------------------- microtasks
-- The queue is a flat array of 4-slot jobs: fn, child promise, value, kind.
-- kind 0: plain microtask fn(); 1: fulfilled reaction; 2: rejected reaction;
-- 3: thenable job (fn = then-function, child = promise, value = thenable).
local q, qhead, qtail = {}, 1, 1
local in_tick = false          -- true while the host is inside tick()
local soon_requested = false   -- host.soon() already called for this batch
local cached_now = nil         -- host time valid for the current tick / run
local uncaught = {}            -- errors escaping callbacks (timers, microtasks)
local unhandled_candidates = {} -- rejected promises without handlers (checked after a drain)
local on_unhandled = nil       -- Lua-side handler for unhandled rejections

local function request_soon()
  if not in_tick and not soon_requested then
    soon_requested = true
    host_soon()
  end
end

local function enqueue(fn, child, value, kind)
  local t = qtail
  q[t], q[t + 1], q[t + 2], q[t + 3] = fn, child, value, kind
  qtail = t + 4
  if t == qhead then request_soon() end
end

local function queueMicrotask(fn)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("queueMicrotask: callback must be a function", 2)
  end
  enqueue(fn, nil, nil, 0)
end

---------------------------------------------------------------------- Promise
local PENDING, FULFILLED, REJECTED = 0, 1, 2
local Promise = {}
Promise.__index = Promise
Promise.__name = "Promise"
local promise_mt = Promise

local resolve_promise, reject_promise

local function new_promise()
  return setmetatable({ state = PENDING }, promise_mt)
end

-- schedule the reactions stored in p (after p settled)
local function flush_reactions(p, state, value)
  local h = p.h
  if h == nil then return end
  p.h = nil
  -- h.n, not #h: a reaction without onFulfilled/onRejected (p:catch) leaves holes
  if state == FULFILLED then
    for i = 1, h.n, 3 do enqueue(h[i], h[i + 2], value, 1) end
  else
    for i = 1, h.n, 3 do enqueue(h[i + 1], h[i + 2], value, 2) end
  end
end

local function fulfill(p, value)
  p.state, p.value = FULFILLED, value
  flush_reactions(p, FULFILLED, value)
end

reject_promise = function(p, reason)
  if p.state ~= PENDING or p.locked then return end
  p.state, p.value = REJECTED, reason
  if p.h == nil and not p.handled then
    unhandled_candidates[#unhandled_candidates + 1] = p
  end
  flush_reactions(p, REJECTED, reason)
end

-- subscribe reaction (onF, onR, child) to p; child may be nil
local function subscribe(p, onF, onR, child)
  p.handled = true
  local st = p.state
  if st == PENDING then
    local h = p.h
    if h == nil then p.h = { onF, onR, child, n = 3 }
    else local n = h.n; h[n + 1], h[n + 2], h[n + 3] = onF, onR, child; h.n = n + 3 end
  elseif st == FULFILLED then
    enqueue(onF, child, p.value, 1)
  else
    enqueue(onR, child, p.value, 2)
  end
end

local function make_once_resolvers(p)
  local called = false
  return function(v)
    if called then return end
    called = true
    p.locked = false
    resolve_promise(p, v)
  end, function(r)
    if called then return end
    called = true
    p.locked = false
    reject_promise(p, r)
  end
end

-- The Promise Resolution Procedure [[Resolve]](p, x) (Promises/A+ 2.3)
resolve_promise = function(p, x)
  if p.state ~= PENDING or p.locked then return end
  if type(x) ~= "table" and type(x) ~= "userdata" then
    return fulfill(p, x)
  end
  if x == p then
    return reject_promise(p, M.TypeError("Chaining cycle detected for promise"))
  end
  if getmetatable(x) == promise_mt then -- adopt our own promise's state
    local st = x.state
    if st == FULFILLED then return fulfill(p, x.value) end
    if st == REJECTED then x.handled = true; return reject_promise(p, x.value) end
    p.locked = true
    return subscribe(x, nil, nil, p)
  end
  local ok, then_ = pcall(function() return x["then"] end)
  if not ok then return reject_promise(p, then_) end
  if type(then_) == "function" then
    p.locked = true
    return enqueue(then_, p, x, 3)
  end
  return fulfill(p, x)
end

local function run_job(fn, child, value, kind)
  if kind == 0 then
    local ok, err = pcall(fn)
    if not ok then uncaught[#uncaught + 1] = err end
  elseif kind == 3 then
    local res, rej = make_once_resolvers(child)
    local ok, err = pcall(fn, value, res, rej)
    if not ok then rej(err) end
  elseif fn == nil then -- pass-through
    if child ~= nil then
      if kind == 1 then
        child.locked = false; resolve_promise(child, value)
      else
        child.locked = false; reject_promise(child, value)
      end
    end
  elseif child == nil then -- internal subscription (await, host tracking)
    local ok, err = pcall(fn, value)
    if not ok then uncaught[#uncaught + 1] = err end
  else
    local ok, r = pcall(fn, value)
    if ok then resolve_promise(child, r) else reject_promise(child, r) end
  end
end

local function report_unhandled()
  local list = unhandled_candidates
  if #list == 0 then return nil end
  unhandled_candidates = {}
  local out
  for i = 1, #list do
    local p = list[i]
    if not p.handled then
      if on_unhandled then
        local ok, err = pcall(on_unhandled, p.value, p)
        if not ok then uncaught[#uncaught + 1] = err end
      else
        out = out or {}
        local v = p.value
        out[#out + 1] = type(v) == "string" and v or M.describe(v)
      end
    end
  end
  return out
end

--- Check rejected promises for handlers now (the test runner calls this
--- after each test); handled by onUnhandledRejection's fn, else reported
--- to the host at the end of the current tick.
function M.check_unhandled()
  local out = report_unhandled()
  if out then
    for i = 1, #out do uncaught[#uncaught + 1] = "unhandled promise rejection: " .. out[i] end
  end
end

--- Run every queued microtask (also those queued while draining).
local function drain()
  while qhead < qtail do
    local h = qhead
    local fn, child, value, kind = q[h], q[h + 1], q[h + 2], q[h + 3]
    q[h], q[h + 1], q[h + 2], q[h + 3] = nil, nil, nil, nil
    qhead = h + 4
    run_job(fn, child, value, kind)
  end
  qhead, qtail = 1, 1
end
M.drain = drain

-------------------------------------------------------------- Promise methods
local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

function Promise:next(onFulfilled, onRejected)
  if getmetatable(self) ~= promise_mt then
    error("Promise:next called on a non-promise (use p:next, not p.next)", 2)
  end
  local child = new_promise()
  subscribe(self, is_callable(onFulfilled) and onFulfilled or nil,
    is_callable(onRejected) and onRejected or nil, child)
  return child
end
Promise.andThen = Promise.next
Promise["then"] = Promise.next

function Promise:catch(onRejected)
  return self:next(nil, onRejected)
end

function Promise:finally(onFinally)
  if not is_callable(onFinally) then return self:next(onFinally, onFinally) end
  return self:next(function(v)
    return M.Promise.resolve(onFinally()):next(function() return v end)
  end, function(e)
    return M.Promise.resolve(onFinally()):next(function() error(e, 0) end)
  end)
end

--- Inspect a promise: "pending" | "fulfilled" | "rejected", value.
function Promise:status()
  local st = self.state
  return st == PENDING and "pending" or st == FULFILLED and "fulfilled" or "rejected", self.value
end

function Promise:__tostring()
  local st, v = self:status()
  if st == "pending" then return "Promise { <pending> }" end
  return "Promise { <" .. st .. "> " .. tostring(v) .. " }"
end

--- Promise.new(function(resolve, reject) ... end)
function Promise.new(executor)
  local p = new_promise()
  if executor ~= nil then
    local res, rej = make_once_resolvers(p)
    local ok, err = pcall(executor, res, rej)
    if not ok then rej(err) end
  end
  return p
end

--- A pending promise and its resolve/reject functions (deferred).
function Promise.withResolvers()
  local p = new_promise()
  local res, rej = make_once_resolvers(p)
  return p, res, rej
end

function Promise.resolve(v)
  if getmetatable(v) == promise_mt then return v end
  local p = new_promise()
  resolve_promise(p, v)
  return p
end

function Promise.reject(r)
  local p = new_promise()
  reject_promise(p, r)
  return p
end

function Promise.is(v)
  return getmetatable(v) == promise_mt
end

local function list_len(list)
  local n = list.n or #list
  return n
end

function Promise.all(list)
  local out, n = new_promise(), list_len(list)
  local results, remaining = {}, n
  if n == 0 then fulfill(out, results); return out end
  for i = 1, n do
    subscribe(Promise.resolve(list[i]), function(v)
      results[i] = v
      remaining = remaining - 1
      if remaining == 0 then resolve_promise(out, results) end
    end, function(r) reject_promise(out, r) end, nil)
  end
  return out
end

function Promise.allSettled(list)
  local out, n = new_promise(), list_len(list)
  local results, remaining = {}, n
  if n == 0 then fulfill(out, results); return out end
  local function done()
    remaining = remaining - 1
    if remaining == 0 then resolve_promise(out, results) end
  end
  for i = 1, n do
    subscribe(Promise.resolve(list[i]), function(v)
      results[i] = { status = "fulfilled", value = v }; done()
    end, function(r)
      results[i] = { status = "rejected", reason = r }; done()
    end, nil)
  end
  return out
end

function Promise.race(list)
  local out = new_promise()
  for i = 1, list_len(list) do
    subscribe(Promise.resolve(list[i]),
      function(v) resolve_promise(out, v) end,
      function(r) reject_promise(out, r) end, nil)
  end
  return out
end

function Promise.any(list)
  local out, n = new_promise(), list_len(list)
  local errors, remaining = {}, n
  if n == 0 then reject_promise(out, M.AggregateError(errors)); return out end
  for i = 1, n do
    subscribe(Promise.resolve(list[i]), function(v) resolve_promise(out, v) end, function(r)
      errors[i] = r
      remaining = remaining - 1
      if remaining == 0 then reject_promise(out, M.AggregateError(errors)) end
    end, nil)
  end
  return out
end

setmetatable(Promise, { __call = function(_, executor) return Promise.new(executor) end })

----------------------------------------------------------------- error values
local ErrorMT = { __tostring = function(e) return e.name .. ": " .. tostring(e.message) end }
ErrorMT.__index = ErrorMT

function M.TypeError(message)
  return setmetatable({ name = "TypeError", message = message }, ErrorMT)
end

function M.AggregateError(errors, message)
  return setmetatable({ name = "AggregateError", message = message or "All promises were rejected",
    errors = errors }, ErrorMT)
end

function M.TimeoutError(message)
  return setmetatable({ name = "TimeoutError", message = message }, ErrorMT)
end

--- A one-line description of any Lua value (error reasons crossing to the host).
function M.describe(v)
  local mt = getmetatable(v)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, v)
    if ok then return s end
  end
  if type(v) == "table" and type(rawget(v, "message")) == "string" then return v.message end
  return tostring(v)
end

------------------------------------------------------------------ async/await
local async_threads = setmetatable({}, { __mode = "k" })
local drives = nil   -- function(co) -> true when co is run by another scheduler (set_driver())
local AWAIT = setmetatable({}, { __name = "await" })    -- what await() yields from a driven coroutine
local tracebacks = setmetatable({}, { __mode = "k" }) -- promise -> traceback of its error

local step
local function await_subscribe(co, value)
  local p = getmetatable(value) == promise_mt and value or Promise.resolve(value)
  subscribe(p, function(v) step(co, true, v) end, function(r) step(co, false, r) end, nil)
end

local DONE = {}                 -- yielded by a pooled coroutine when its job has returned
local pool, pool_n, POOL_MAX = {}, 0, 64
local finish_pooled

step = function(co, ok, v)
  local rec = async_threads[co]
  local res, yielded, result = co_resume(co, ok, v)
  if yielded == DONE and res then return finish_pooled(co, rec, result) end
  if not res then
    async_threads[co] = nil
    if rec.trace then tracebacks[rec.promise] = traceback(co, M.describe(yielded)) end
    return reject_promise(rec.promise, yielded)
  end
  if co_status(co) == "dead" then
    async_threads[co] = nil
    return resolve_promise(rec.promise, yielded)
  end
  await_subscribe(co, yielded)
end

local function start_async(fn, trace, ...)
  local p = new_promise()
  local n, args = select("#", ...), { ... }
  local co = co_create(function()
    return fn(table.unpack(args, 1, n))
  end)
  async_threads[co] = { promise = p, trace = trace }
  local res, yielded = co_resume(co)
  if not res then
    async_threads[co] = nil
    if trace then tracebacks[p] = traceback(co, M.describe(yielded)) end
    reject_promise(p, yielded)
  elseif co_status(co) == "dead" then
    async_threads[co] = nil
    resolve_promise(p, yielded)
  else
    await_subscribe(co, yielded)
  end
  return p
end

-- Pooled coroutines (spawn_pooled): a worker runs job after job, so a short async
-- job (an HTTP request) costs a resume instead of a new coroutine, closure and
-- argument table.  A job that fails kills its worker (it is not reused).
local function worker(fn, a, b, c, d, e, f)
  while true do
    local r = fn(a, b, c, d, e, f)
    fn, a, b, c, d, e, f = co_yield(DONE, r)
  end
end

local function release(co)
  async_threads[co] = nil
  if pool_n < POOL_MAX then
    pool_n = pool_n + 1
    pool[pool_n] = co
  end
end

finish_pooled = function(co, rec, result)
  release(co)
  return resolve_promise(rec.promise, result)
end

--- spawn_pooled(fn, a..f): run fn(a..f) as an async function (at most six
--- arguments) on a reused coroutine.  Returns nil when fn returned without
--- awaiting (its result is dropped: no promise is made), else the promise of its
--- first result (rejected when fn raised).
function M.spawn_pooled(fn, a, b, c, d, e, f)
  local co
  if pool_n > 0 then
    co = pool[pool_n]
    pool[pool_n] = nil
    pool_n = pool_n - 1
  else
    co = co_create(worker)
  end
  local rec = { promise = false, trace = false }
  async_threads[co] = rec
  local res, yielded = co_resume(co, fn, a, b, c, d, e, f)
  if res and yielded == DONE then
    release(co)
    return nil
  end
  local p = new_promise()
  rec.promise = p
  if not res then
    async_threads[co] = nil
    reject_promise(p, yielded)
  else
    await_subscribe(co, yielded)
  end
  return p
end

--- async(fn) -> function(...) returning a Promise of fn's first result.
function M.async(fn)
  if not is_callable(fn) then error("async: expected a function", 2) end
  return function(...) return start_async(fn, false, ...) end
end

--- Run fn(...) as an async function now; returns its promise.
function M.spawn(fn, ...)
  return start_async(fn, false, ...)
end

--- await(v): suspend the current async function until v (a promise, a
--- thenable or a plain value) settles; returns the value or raises the reason.
function M.await(v)
  local co = co_running()
  if async_threads[co] == nil then
    if drives ~= nil and drives(co) then
      -- a coroutine run by another scheduler (hype.actor): it resumes us with ok, value
      local ok, value = co_yield(AWAIT, v)
      if ok then return value end
      error(value, 0)
    end
    error("await() called outside an async function (wrap the caller with async(fn))", 2)
  end
  local ok, value = co_yield(v)
  if ok then return value end
  error(value, 0)
end

--- set_driver(fn): fn(co) -> true when `co` is run by another scheduler (hype.actor's
--- processes): inside it, await(v) yields (AWAIT, v) to that scheduler, which resumes it
--- with (true, value) or (false, reason) once v settles.  Returns AWAIT.
function M.set_driver(fn)
  drives = fn
  return AWAIT
end
M.AWAIT = AWAIT

--- true when called inside a coroutine started by async() (or driven, see drive()).
function M.in_async()
  local co = co_running()
  return async_threads[co] ~= nil or (drives ~= nil and drives(co) == true)
end

---------------------------------------------------------------------- timers
-- binary min-heap of timer records ordered by (due, seq)
local heap, heap_n, seq = {}, 0, 0
local active = {}      -- id -> record (not cleared)
local refs = 0         -- active timers keeping the loop alive
local wake_at = nil    -- due time the host was last asked to wake us at
local next_id = 0

local function before(a, b)
  return a.due < b.due or (a.due == b.due and a.seq < b.seq)
end

local function heap_push(t)
  heap_n = heap_n + 1
  local i = heap_n
  heap[i] = t
  while i > 1 do
    local parent = i // 2
    if before(heap[i], heap[parent]) then
      heap[i], heap[parent] = heap[parent], heap[i]
      i = parent
    else break end
  end
end

local function heap_pop()
  local top = heap[1]
  heap[1] = heap[heap_n]
  heap[heap_n] = nil
  heap_n = heap_n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= heap_n and before(heap[l], heap[m]) then m = l end
    if r <= heap_n and before(heap[r], heap[m]) then m = r end
    if m == i then break end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
  return top
end

-- drop cancelled timers from the top of the heap
local function heap_top()
  while heap_n > 0 and heap[1].cancelled do heap_pop() end
  return heap[1]
end

local function now()
  local t = cached_now
  if t == nil then t = host_now() end
  return t
end
M.now = now

local Timer = {}
Timer.__index = Timer
Timer.__name = "Timeout"

--- Stop this timer from keeping `hype run` alive.
function Timer:unref()
  if self.ref and not self.cancelled then refs = refs - 1 end
  self.ref = false
  return self
end

function Timer:ref()
  if not self.ref and not self.cancelled then refs = refs + 1 end
  self.ref = true
  return self
end

function Timer:hasRef() return self.ref end
function Timer:__tostring() return "Timeout(" .. self.id .. ")" end

local function schedule(t)
  seq = seq + 1
  t.seq = seq
  heap_push(t)
  if not in_tick and (wake_at == nil or t.due < wake_at) then
    wake_at = t.due
    host_wake(t.due)
  end
end

local function add_timer(fn, ms, interval, n, args)
  if not is_callable(fn) then error("setTimeout/setInterval: callback must be a function", 3) end
  ms = tonumber(ms) or 0
  if ms < 1 or ms ~= ms or ms > 2147483647 then ms = 1 end
  next_id = next_id + 1
  local t = setmetatable({ id = next_id, fn = fn, due = now() + ms, interval = interval and ms or nil,
    n = n, args = n > 0 and args or nil, ref = true }, Timer)
  active[next_id] = t
  refs = refs + 1
  schedule(t)
  return t
end

--- setTimeout(fn, ms, ...) -> Timer; ms < 1 counts as 1 (like Node).
function M.setTimeout(fn, ms, ...)
  return add_timer(fn, ms, false, select("#", ...), { ... })
end

--- setInterval(fn, ms, ...) -> Timer.
function M.setInterval(fn, ms, ...)
  return add_timer(fn, ms, true, select("#", ...), { ... })
end

--- clearTimeout(timer_or_id); also clears intervals.  Unknown ids are ignored.
function M.clearTimeout(t)
  if type(t) == "number" then t = active[t] end
  if type(t) ~= "table" or getmetatable(t) ~= Timer or t.cancelled then return end
  t.cancelled = true
  active[t.id] = nil
  if t.ref then refs = refs - 1 end
end
M.clearInterval = M.clearTimeout

--- Number of live timers (for tests / introspection).
function M.timer_count()
  local n = 0
  for _ in pairs(active) do n = n + 1 end
  return n
end

-------------------------------------------------------------- host futures
-- Promises settled by the host (Python awaitables awaited from Lua) and
-- promises the host waits on (Lua promises awaited from Python).
local host_pending = {}   -- id -> promise settled by an inbox entry
local host_count = 0
local host_next = 0
local outbox, outbox_n = {}, 0 -- flat: id, ok, value, traceback (values may be nil)
local waiter_next = 0

--- Wrap a host starter `start(id, ...)` as a Lua function returning a Promise.
--- The host later delivers (id, ok, value) in tick()'s inbox.
function M.host_function(start, name)
  return function(...)
    host_next = host_next + 1
    local id = host_next
    local p = new_promise()
    host_pending[id] = p
    host_count = host_count + 1
    local ok, err = pcall(start, id, ...)
    if not ok then
      host_pending[id] = nil
      host_count = host_count - 1
      reject_promise(p, err)
    end
    return p
  end
end

--- Call fn(...) (as an async function when `as_async`); when the (first)
--- result is a promise, track it for the host: returns true, waiter_id;
--- otherwise returns false, results...; an async fn failing before its first
--- await returns "error", reason, traceback.
function M.track(fn, as_async, ...)
  local first
  if as_async then
    first = start_async(function(...)
      local r = table.pack(fn(...))
      if r.n == 1 and getmetatable(r[1]) == promise_mt then r = table.pack(M.await(r[1])) end
      return r
    end, true, ...)
    if first.state == REJECTED then -- failed before its first await: report synchronously
      first.handled = true
      local v = first.value
      -- an exception raised by a Python callback: re-raise so the back-end restores the original
      if type(v) == "string" and v:match("^[%a_][%w_%.]*: ") then error(v, 0) end
      return "error", v, tracebacks[first] or false
    end
  else
    local r = table.pack(fn(...))
    if getmetatable(r[1]) ~= promise_mt then return false, table.unpack(r, 1, r.n) end
    first = r[1]
  end
  waiter_next = waiter_next + 1
  local id = waiter_next
  subscribe(first, function(v)
    local n = outbox_n
    outbox[n + 1], outbox[n + 2], outbox[n + 3], outbox[n + 4] = id, true, v, false
    outbox_n = n + 4
  end, function(r)
    local n = outbox_n
    outbox[n + 1], outbox[n + 2], outbox[n + 3], outbox[n + 4] = id, false, r, tracebacks[first] or false
    outbox_n = n + 4
  end, nil)
  request_soon()
  return true, id
end

--- Set the Lua handler of unhandled rejections: fn(reason, promise); nil
--- restores the default (report to the host, which raises).
function M.onUnhandledRejection(fn)
  on_unhandled = fn
end

--- Called by the host: deliver `inbox` (flat: id, ok, value), run due timers
--- (each followed by a microtask drain).  `now_ms` is the host time.
--- Returns: next_due_ms|false, alive, outbox|false, outbox_n, uncaught|false, unhandled|false
---   outbox: flat (waiter_id, ok, value, traceback|false) for promises tracked by track()
---   alive: ref'd timers or host futures are pending (the loop has work left)
function M.tick(now_ms, inbox, inbox_n)
  if in_tick then return false, true, false, 0, false, false end
  in_tick = true
  soon_requested = false
  wake_at = nil
  cached_now = now_ms
  if inbox then
    for i = 1, inbox_n, 3 do
      local id = inbox[i]
      local p = host_pending[id]
      if p then
        host_pending[id] = nil
        host_count = host_count - 1
        if inbox[i + 1] then resolve_promise(p, inbox[i + 2]) else reject_promise(p, inbox[i + 2]) end
      end
    end
  end
  drain()
  local unhandled = report_unhandled()
  if #uncaught == 0 and not unhandled then
    while true do
      local t = heap_top()
      if t == nil or t.due > now_ms then break end
      heap_pop()
      if t.interval then
        t.due = (t.due + t.interval > now_ms) and t.due + t.interval or now_ms + t.interval
        seq = seq + 1
        t.seq = seq
        heap_push(t)
      else
        t.cancelled = true
        active[t.id] = nil
        if t.ref then refs = refs - 1 end
      end
      local ok, err
      if t.n == 0 then ok, err = pcall(t.fn) else ok, err = pcall(t.fn, table.unpack(t.args, 1, t.n)) end
      if not ok then uncaught[#uncaught + 1] = err end
      drain()
      unhandled = report_unhandled()
      if #uncaught > 0 or unhandled then break end
    end
  end
  local top = heap_top()
  local next_due = top and top.due or false
  local out, out_n = false, outbox_n
  if out_n > 0 then out = outbox; outbox, outbox_n = {}, 0 end
  local errs = false
  if #uncaught > 0 then
    errs = {}
    for i = 1, #uncaught do errs[i] = M.describe(uncaught[i]) end
    uncaught = {}
  end
  cached_now = nil
  in_tick = false
  wake_at = next_due or nil
  return next_due, (refs > 0 or host_count > 0), out, out_n, errs, unhandled or false
end

--- Run fn with the cached host time set to now_ms (saves host.now crossings).
function M.with_time(now_ms, fn, ...)
  local saved = cached_now
  cached_now = now_ms
  local r = table.pack(pcall(fn, ...))
  cached_now = saved
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

--- Is there work left (queued microtasks, ref'd timers, host futures)?
function M.alive()
  return qhead < qtail or refs > 0 or host_count > 0
end

M.Promise = Promise
M.queueMicrotask = queueMicrotask
M.Timer = Timer

-- globals (Node/browser names)
_G.Promise = Promise
_G.setTimeout, _G.setInterval = M.setTimeout, M.setInterval
_G.clearTimeout, _G.clearInterval = M.clearTimeout, M.clearInterval
_G.queueMicrotask = queueMicrotask
_G.async, _G.await = M.async, M.await

package.loaded["hype.loop"] = M
package.loaded["hype.promise"] = Promise
package.loaded["hype.timers"] = {
  setTimeout = M.setTimeout, setInterval = M.setInterval, clearTimeout = M.clearTimeout,
  clearInterval = M.clearInterval, queueMicrotask = queueMicrotask,
}
return M
