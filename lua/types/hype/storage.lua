---@meta hype.storage
-- require("hype.storage") is the `storage` global (see ../globals.lua).
return storage
