---@meta hype.promise
-- require("hype.promise") is the `Promise` global (see ../globals.lua).
return Promise
