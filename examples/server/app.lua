-- examples/server: a small JSON API with storage, a static page and a WebSocket echo.
--   .venv/bin/hype serve examples/server/app.lua --port 3000 --database todo.db
--   curl -X POST localhost:3000/api/todos -H 'content-type: application/json' -d '{"title":"milk"}'
--   curl localhost:3000/api/todos ; open http://localhost:3000/
local http = require("hype.http")
local app = http.app()
local todos = storage.table("todos")

-- middleware runs for every request, in order; next() passes on to the next layer
app:use(function(req, res, next)
  res:set("X-Served-By", "hypelua example")
  next()
end)

local api = http.router()

api:get("/todos", function(req, res)
  local out = {}
  for id, todo in storage.query("todos", { order = "asc", limit = tonumber(req.query.limit) or 100 }) do
    out[#out + 1] = { id = id, title = todo.title, done = todo.done }
  end
  res:json(out)
end)

api:get("/todos/:id", function(req, res)
  local todo = todos[req.params.id]
  if not todo then return res:status(404):json({ error = { code = "NOT_FOUND", message = "no such todo" } }) end
  res:json({ id = req.params.id, title = todo.title, done = todo.done })
end)

api:post("/todos", function(req, res)
  local body = req:json()
  if type(body.title) ~= "string" or body.title == "" then
    return res:status(422):json({ error = { code = "INVALID", message = "title must be a non-empty string" } })
  end
  local id = string.format("%d-%04d", os.time(), math.random(0, 9999))
  todos[id] = { title = body.title, done = false }
  res:status(201):json({ id = id, title = body.title, done = false })
end)

api:patch("/todos/:id", function(req, res)
  local todo = todos[req.params.id]
  if not todo then return res:status(404):json({ error = { code = "NOT_FOUND", message = "no such todo" } }) end
  local body = req:json()
  if body.done ~= nil then todo.done = body.done == true end
  if type(body.title) == "string" then todo.title = body.title end
  todos[req.params.id] = todo
  res:json({ id = req.params.id, title = todo.title, done = todo.done })
end)

api:delete("/todos/:id", function(req, res)
  todos[req.params.id] = nil
  res:status(204):send()
end)

-- an awaited timer inside a handler: other requests keep being served meanwhile
api:get("/slow", function(req, res)
  await(Promise.new(function(resolve) setTimeout(resolve, tonumber(req.query.ms) or 100) end))
  res:json({ waited = true })
end)

app:use("/api", api)
app:static("/", "./public", { html = true }) -- index.html for "/"

app:ws("/echo", function(ws, req)
  ws:send("connected")
  ws:on("message", function(m) ws:send("echo: " .. m) end)
end)

return app
