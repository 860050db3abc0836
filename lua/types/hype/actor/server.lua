---@meta hype.actor.server
-- require("hype.actor.server"): the gen_server functions (also on hype.actor).

---@class hype.actor.server
---@field Server hype.actor.Server
local M = {}
M.server = require("hype.actor").server
M.call = require("hype.actor").call
M.cast = require("hype.actor").cast
M.reply = require("hype.actor").reply
M.upgrade_server = require("hype.actor").upgrade_server
return M
