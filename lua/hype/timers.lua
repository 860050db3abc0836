-- hype.timers: setTimeout/setInterval/clear*/queueMicrotask of hype.loop.
return package.loaded["hype.timers"] or require("hype.loop")
