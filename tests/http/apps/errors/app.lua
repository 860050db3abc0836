-- the issue's example: a user error handler, and one that recovers with next()
local http = require("hype.http")
local app = http.app()
local seen = {}
app:get("/boom", function(req, res) error("kaboom") end)
app:get("/recover", function(req, res, next) next(http.error(409, "conflict")) end)
app:on_error(function(err, req, res, next)
  seen[#seen + 1] = tostring(err)
  if req.path == "/recover" then return next() end
  res:status(500):json({ error = tostring(err) })
end)
app:get("/recover", function(req, res) res:send("recovered") end)
app:get("/seen", function(req, res) res:json(seen) end)
app:get("/handler-fails", function(req, res) error("first") end)
return app
