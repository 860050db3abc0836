---@meta hype.timers
-- require("hype.timers"): the timer globals as a module (see ../globals.lua).

---@class hype.timers
local timers = {}
timers.setTimeout = setTimeout
timers.setInterval = setInterval
timers.clearTimeout = clearTimeout
timers.clearInterval = clearInterval
timers.queueMicrotask = queueMicrotask
return timers
