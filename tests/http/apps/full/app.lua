-- the server-mode test app: every item of the hype.http API
local http = require("hype.http")
local app = http.app()
local order = {}

app:use(function(req, res, next)
  order = { "first" }
  res:set("X-Powered-By", "hypelua")
  next()
end)
app:use(function(req, res, next) order[#order + 1] = "second"; next() end)

app:get("/", function(req, res) res:send("hello") end)
app:get("/order", function(req, res) order[#order + 1] = "handler"; res:json(order) end)
app:get("/users/:id", function(req, res) res:json({ id = req.params.id, q = req.query.q, tags = req.query.tag }) end)
app:get("/opt/:a/:b?", function(req, res) res:json({ a = req.params.a, b = req.params.b or "none" }) end)
app:get("/files/*", function(req, res) res:send(req.params["*"]) end)
app:get("/typed/{n:int}", function(req, res) res:json({ n = req.params.n, t = math.type(req.params.n) }) end)
app:all("/any", function(req, res) res:send(req.method) end)
app:post("/echo", function(req, res) res:status(201):json(req:json()) end)
app:put("/echo", function(req, res) res:json({ method = "PUT", body = req.body }) end)
app:patch("/echo", function(req, res) res:json({ method = "PATCH" }) end)
app:delete("/echo", function(req, res) res:status(204):send() end)
app:post("/form", function(req, res)
  local f = req:form()
  local out = { name = f.name, many = f.many }
  if f.upload then
    out.upload = { filename = f.upload.filename, size = f.upload.size, len = #f.upload.content,
      last = f.upload.content:byte(-1), type = f.upload.content_type }
  end
  res:json(out)
end)
app:get("/req", function(req, res)
  res:json({ method = req.method, path = req.path, url = req.url, ip = req.ip, ua = req:get("User-Agent"),
    custom = req.headers["x-custom"], cookie = req.cookies.session })
end)
app:get("/next-twice", function(req, res, next) next() end, function(req, res) res:send("second handler") end)
app:get("/next-twice", function(req, res) res:send("never") end)

-- responses
app:get("/html", function(req, res) res:html("<b>hi</b>") end)
app:get("/status", function(req, res) res:status(418):set("X-A", "1"):send("teapot " .. res:get("X-A")) end)
app:get("/redirect", function(req, res) res:redirect("/") end)
app:get("/redirect301", function(req, res) res:redirect(301, "/html") end)
app:get("/cookie", function(req, res)
  res:cookie("session", "abc", { max_age = 60, httponly = true, samesite = "strict" })
  res:cookie("theme", "dark")
  res:send("ok")
end)
app:get("/clear", function(req, res) res:clear_cookie("session"); res:send("cleared") end)
app:get("/file", function(req, res) res:sendfile("public/style.css") end)
app:get("/nofile", function(req, res) res:sendfile("public/missing.css") end)
app:get("/bad-header", function(req, res) res:set("X-Evil", "a\r\nSet-Cookie: x=1"); res:send("no") end)
app:get("/bad-header-name", function(req, res) res:set("X Evil", "a"); res:send("no") end)
app:get("/bad-cookie", function(req, res) res:cookie("c", "v\r\nX: y"); res:send("no") end)
app:get("/twice", function(req, res) res:send("one"); res:send("two") end)

-- errors
app:get("/boom", function(req, res) error("kaboom") end)
app:get("/boom-table", function(req, res) error(http.error(422, "not processable")) end)
app:get("/next-err", function(req, res, next) next("passed on") end)
app:get("/loop", function(req, res) while true do end end)
app:get("/pcall-loop", function(req, res) while true do pcall(function() while true do end end) end end)
app:get("/hog", function(req, res)
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
end)
app:get("/never", function(req, res) end)

-- async
app:get("/sleep/:ms", function(req, res)
  local ms = tonumber(req.params.ms)
  await(Promise.new(function(resolve) setTimeout(resolve, ms) end))
  res:json({ ms = ms, id = req.query.id })
end)
app:get("/later", function(req, res)
  setTimeout(function() res:send("from a timer") end, 10)
end)
app:get("/late-error", function(req, res)
  await(Promise.new(function(resolve) setTimeout(resolve, 5) end))
  error("after await")
end)

-- storage
app:post("/users/:id", function(req, res)
  storage.table("users")[req.params.id] = req:json()
  res:status(201):json({ ok = true })
end)
app:get("/stored/:id", function(req, res)
  local row = storage.table("users")[req.params.id]
  if row == nil then return res:status(404):json({ error = { code = "NO_USER", message = "no user" } }) end
  res:json(row)
end)

-- streaming
app:get("/stream", function(req, res)
  res:write("a")
  for i = 1, 3 do
    await(Promise.new(function(resolve) setTimeout(resolve, 5) end))
    res:write(tostring(i))
  end
  res:finish("z")
end)
app:get("/events", function(req, res)
  local sse = res:sse()
  for i = 1, 3 do
    sse:send({ n = i }, { event = "tick", id = i })
    await(Promise.new(function(resolve) setTimeout(resolve, 5) end))
  end
  sse:send("multi\nline")
  sse:close()
end)

-- a mounted router with its own middleware and a param in the mount path
local api = http.router()
api:use(function(req, res, next) res:set("X-Api", "v1"); next() end)
api:get("/items/:id", function(req, res)
  res:json({ id = req.params.id, org = req.params.org, base = req.baseUrl, path = req.path })
end)
app:use("/api/:org", api)

-- static files: fall through to the next layer when missing
app:static("/assets", "./public")
app:get("/assets/fallback.txt", function(req, res) res:send("fell through") end)

-- WebSockets
app:ws("/chat", function(ws, req)
  ws:send("welcome " .. (req.query.name or "?"))
  ws:on("message", function(m)
    if m == "close" then return ws:close(4000, "bye") end
    if m == "boom" then error("ws handler failed") end
    ws:send("echo: " .. m)
  end)
end)
app:ws("/rooms/:room", function(ws, req)
  ws:on("message", function(m) ws:send({ room = req.params.room, m = m }) end)
end)

-- for Python callers
app.exports.add = function(a, b) return a + b end
app.exports.slow_double = function(x)
  return Promise.new(function(resolve) setTimeout(function() resolve(x * 2) end, 5) end)
end

-- default error handling is tested without an on_error; the error-handler app has one
return app
