-- hype.events: Node-style EventEmitter, dispatched entirely inside Lua.
--
--   local EventEmitter = require("hype.events").EventEmitter
--   local e = EventEmitter.new()          -- or EventEmitter() / events.new()
--   e:on("data", function(x) ... end)     -- also e:addListener
--   e:once("end", fn); e:prependListener("data", fn); e:prependOnceListener(...)
--   e:emit("data", 1, 2)                   -- true when there were listeners
--   e:off("data", fn)                      -- also e:removeListener; removeAllListeners([name])
--   e:listenerCount("data"); e:listeners("data"); e:eventNames()
--   e:setMaxListeners(n)                   -- warn (once) above n listeners (default 10; 0 = off)
--
-- emit("error", err) with no "error" listener raises err (like Node).
-- Listeners run synchronously in registration order; a listener added or
-- removed during an emit does not affect that emit.
-- Subclass: `local My = EventEmitter:extend()` then `My.new()`.

local setmetatable, select, error, type, tostring = setmetatable, select, error, type, tostring
local unpack = table.unpack

local EventEmitter = {}
EventEmitter.__index = EventEmitter
EventEmitter.__name = "EventEmitter"
EventEmitter.defaultMaxListeners = 10

local ONCE = setmetatable({}, { __mode = "k" }) -- wrapper -> original listener

function EventEmitter.new(cls)
  cls = cls or EventEmitter
  if type(cls) ~= "table" or cls.__index == nil then cls = EventEmitter end
  return setmetatable({ _events = {}, _max = nil }, cls)
end

--- Create a subclass whose instances are EventEmitters.
function EventEmitter:extend()
  local cls = setmetatable({}, { __index = self, __call = function(c) return EventEmitter.new(c) end })
  cls.__index = cls
  cls.new = function() return EventEmitter.new(cls) end
  return cls
end

local function events_of(self)
  local ev = rawget(self, "_events")
  if ev == nil then ev = {}; rawset(self, "_events", ev) end
  return ev
end

local function add(self, name, fn, prepend)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("listener must be a function, got " .. type(fn), 3)
  end
  local ev = events_of(self)
  if ev.newListener and name ~= "newListener" then
    self:emit("newListener", name, ONCE[fn] or fn)
  end
  local list = ev[name]
  if list == nil then
    ev[name] = { fn }
  else
    -- copy-on-write: an emit in progress keeps iterating its own snapshot
    local copy = { unpack(list) }
    if prepend then table.insert(copy, 1, fn) else copy[#copy + 1] = fn end
    ev[name] = copy
    local max = self._max or EventEmitter.defaultMaxListeners
    if max > 0 and #copy > max and not (self._warned or {})[name] then
      self._warned = self._warned or {}
      self._warned[name] = true
      io.stderr:write(("MaxListenersExceededWarning: %d %s listeners added to an EventEmitter\n")
        :format(#copy, tostring(name)))
    end
  end
  return self
end

function EventEmitter:on(name, fn) return add(self, name, fn, false) end
EventEmitter.addListener = EventEmitter.on

function EventEmitter:prependListener(name, fn) return add(self, name, fn, true) end

local function once_wrapper(self, name, fn)
  local wrapper
  wrapper = function(...)
    self:off(name, wrapper)
    return fn(...)
  end
  ONCE[wrapper] = fn
  return wrapper
end

function EventEmitter:once(name, fn)
  return add(self, name, once_wrapper(self, name, fn), false)
end

function EventEmitter:prependOnceListener(name, fn)
  return add(self, name, once_wrapper(self, name, fn), true)
end

function EventEmitter:off(name, fn)
  local ev = events_of(self)
  local list = ev[name]
  if list == nil then return self end
  for i = #list, 1, -1 do
    local l = list[i]
    if l == fn or ONCE[l] == fn then
      local copy = { unpack(list) }
      table.remove(copy, i)
      ev[name] = #copy > 0 and copy or nil
      if ev.removeListener then self:emit("removeListener", name, ONCE[l] or l) end
      break
    end
  end
  return self
end
EventEmitter.removeListener = EventEmitter.off

function EventEmitter:removeAllListeners(name)
  if name == nil then rawset(self, "_events", {}) else events_of(self)[name] = nil end
  return self
end

function EventEmitter:emit(name, ...)
  local list = events_of(self)[name]
  if list == nil then
    if name == "error" then
      local err = ...
      if err == nil then err = "Unhandled 'error' event" end
      error(err, 0)
    end
    return false
  end
  local n = #list
  if n == 1 then
    list[1](...)
  else
    for i = 1, n do list[i](...) end
  end
  return true
end

function EventEmitter:listenerCount(name)
  local list = events_of(self)[name]
  return list and #list or 0
end

--- Listeners of `name` (once-wrappers unwrapped), a fresh list.
function EventEmitter:listeners(name)
  local out = {}
  for i, l in ipairs(events_of(self)[name] or {}) do out[i] = ONCE[l] or l end
  return out
end

function EventEmitter:rawListeners(name)
  return { unpack(events_of(self)[name] or {}) }
end

function EventEmitter:eventNames()
  local out = {}
  for k in pairs(events_of(self)) do out[#out + 1] = k end
  table.sort(out, function(a, b) return tostring(a) < tostring(b) end)
  return out
end

function EventEmitter:setMaxListeners(n)
  self._max = n
  return self
end

function EventEmitter:getMaxListeners()
  return self._max or EventEmitter.defaultMaxListeners
end

setmetatable(EventEmitter, { __call = function() return EventEmitter.new() end })

--- events.once(emitter, name) -> Promise of the first emit's arguments (a list);
--- rejects when "error" is emitted first.  Needs hype.loop.
local function once_promise(emitter, name)
  local Promise = package.loaded["hype.promise"]
  return Promise.new(function(resolve, reject)
    local on_event, on_error
    on_event = function(...)
      if name ~= "error" then emitter:off("error", on_error) end
      resolve(table.pack(...))
    end
    on_error = function(err)
      emitter:off(name, on_event)
      reject(err)
    end
    emitter:once(name, on_event)
    if name ~= "error" then emitter:once("error", on_error) end
  end)
end

local M = {
  EventEmitter = EventEmitter,
  new = function() return EventEmitter.new() end,
  once = once_promise,
}
package.loaded["hype.events"] = M
return M
