-- hype.promise: the Promise class of hype.loop (installed by the runtime).
return package.loaded["hype.promise"] or require("hype.loop").Promise
