---@meta hype.actor.code
-- require("hype.actor.code"): the code server functions (also on hype.actor).

---@class hype.actor.code
local M = {}
M.load = require("hype.actor").load
M.versions = require("hype.actor").versions
M.require = require("hype.actor").require
M.upgrade = require("hype.actor").upgrade
return M
