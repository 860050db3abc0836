---@meta hype.loop
-- require("hype.loop"): the event loop behind promises, async/await and timers.
-- Most programs use the globals (../globals.lua); the rest is for hosts and schedulers.

---An error value with a name (`TypeError`, `AggregateError`, `TimeoutError`).
---@class hype.loop.Error
---@field name string
---@field message any
---@field errors? any[] AggregateError's reasons.

---@class hype.loop
---@field Promise Promise
---@field Timer hype.Timer
---@field AWAIT table The marker an await yields to a scheduler installed with set_driver.
local loop = {}

loop.setTimeout = setTimeout
loop.setInterval = setInterval
loop.clearTimeout = clearTimeout
loop.clearInterval = clearInterval
loop.queueMicrotask = queueMicrotask
loop.async = async
loop.await = await

---Run fn(...) as an async function now; returns its promise.
---@param fn async fun(...): any
---@param ... any
---@return Promise
function loop.spawn(fn, ...) end

---Run fn(a..f) as an async function on a reused coroutine: nil when fn returned without
---awaiting (its result is dropped), else the promise of its first result.
---@param fn async fun(...): any
---@return Promise|nil
function loop.spawn_pooled(fn, a, b, c, d, e, f) end

---true when called inside a coroutine started by async() (or a driven one).
---@return boolean
function loop.in_async() end

---Install a scheduler's driver: fn(co) -> true when `co` is run by that scheduler;
---await inside it yields (AWAIT, v). Returns AWAIT.
---@param fn fun(co: thread): boolean
---@return table
function loop.set_driver(fn) end

---The loop's time in milliseconds (cached per tick).
---@return number
function loop.now() end

---Number of live timers.
---@return integer
function loop.timer_count() end

---Is there work left (queued microtasks, ref'd timers, host futures)?
---@return boolean
function loop.alive() end

---Run queued microtasks now.
function loop.drain() end

---Check rejected promises for handlers now; unhandled ones go to onUnhandledRejection's
---fn, else to the host at the end of the tick.
function loop.check_unhandled() end

---Set the handler of unhandled rejections: fn(reason, promise); nil restores the default
---(report to the host, which raises).
---@param fn fun(reason: any, promise: Promise)|nil
function loop.onUnhandledRejection(fn) end

---A one-line description of any Lua value.
---@param v any
---@return string
function loop.describe(v) end

---@param message any
---@return hype.loop.Error
function loop.TypeError(message) end

---@param errors any[]
---@param message? any
---@return hype.loop.Error
function loop.AggregateError(errors, message) end

---@param message? any
---@return hype.loop.Error
function loop.TimeoutError(message) end

---(host) Wrap a host starter `start(id, ...)` as a Lua function returning a Promise.
---@param start fun(id: integer, ...)
---@param name? string
---@return fun(...): Promise
function loop.host_function(start, name) end

---(host) Call fn(...); when its result is a promise, track it: true, waiter_id; else
---false, results...; "error", reason, traceback when an async fn fails before awaiting.
---@param fn function
---@param as_async? boolean
---@return any ...
function loop.track(fn, as_async, ...) end

---(host) One turn of the loop: deliver `inbox`, run due timers and microtasks.
---Returns next_due_ms|false, alive, outbox|false, outbox_n, uncaught|false, unhandled|false.
---@param now_ms number
---@param inbox? table
---@param inbox_n? integer
---@return any ...
function loop.tick(now_ms, inbox, inbox_n) end

---(host) Run fn(...) with the cached time set to now_ms.
---@param now_ms number
---@param fn function
---@return any ...
function loop.with_time(now_ms, fn, ...) end

return loop
