---@meta hype.actor.supervisor
-- require("hype.actor.supervisor"): the supervisor functions (also on hype.actor).

---@class hype.actor.supervisor
local M = {}
M.supervisor = require("hype.actor").supervisor
M.which_children = require("hype.actor").which_children
M.terminate_child = require("hype.actor").terminate_child
M.restart_child = require("hype.actor").restart_child
return M
