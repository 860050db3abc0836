---@meta hype.events
-- require("hype.events"): a Node-style EventEmitter, dispatched inside Lua.

---@class hype.EventEmitter
---@field defaultMaxListeners integer
local EventEmitter = {}

---A new emitter (`EventEmitter.new()`, `EventEmitter()`; a subclass: `My.new()`).
---@param cls? table
---@return hype.EventEmitter
function EventEmitter.new(cls) end

---A subclass: `local My = EventEmitter:extend()`, then `My.new()`.
---@return table
function EventEmitter:extend() end

---Add a listener (also `addListener`).
---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:on(name, fn) end

---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:addListener(name, fn) end

---Add a listener before the others.
---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:prependListener(name, fn) end

---Add a listener that runs once.
---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:once(name, fn) end

---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:prependOnceListener(name, fn) end

---Remove a listener (also `removeListener`).
---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:off(name, fn) end

---@param name any
---@param fn fun(...)
---@return hype.EventEmitter
function EventEmitter:removeListener(name, fn) end

---Remove every listener of `name` (of every event without it).
---@param name? any
---@return hype.EventEmitter
function EventEmitter:removeAllListeners(name) end

---Call the listeners synchronously in order; true when there were any.
---`emit("error", err)` with no "error" listener raises err.
---@param name any
---@param ... any
---@return boolean
function EventEmitter:emit(name, ...) end

---@param name any
---@return integer
function EventEmitter:listenerCount(name) end

---@param name any
---@return function[]
function EventEmitter:listeners(name) end

---Listeners including the `once` wrappers.
---@param name any
---@return function[]
function EventEmitter:rawListeners(name) end

---@return any[]
function EventEmitter:eventNames() end

---Warn (once) above n listeners per event (default 10; 0 = off).
---@param n integer
---@return hype.EventEmitter
function EventEmitter:setMaxListeners(n) end

---@return integer
function EventEmitter:getMaxListeners() end

---@class hype.events
local events = {}
events.EventEmitter = EventEmitter

---A new EventEmitter.
---@return hype.EventEmitter
function events.new() end

---Promise of the next `name` event's arguments (a `table.pack` list); rejects when "error" is emitted first (Node's events.once).
---@param emitter hype.EventEmitter
---@param name any
---@return Promise
function events.once(emitter, name) end

return events
