-- hype.http: Express-like HTTP apps (SPEC section 3 D), served by Starlette + uvicorn.
--
--   local http = require("hype.http")
--   local app = http.app()
--   app:use(function(req, res, next) res:set("X-Powered-By", "hypelua"); next() end)
--   app:get("/users/:id", function(req, res) res:json({ id = req.params.id }) end)
--   app:use("/api", http.router())          -- a mounted router
--   app:static("/assets", "./public")       -- Starlette's StaticFiles
--   app:ws("/chat", function(ws, req) ws:on("message", function(m) ws:send(m) end) end)
--   app:on_error(function(err, req, res, next) res:status(500):json({ error = tostring(err) }) end)
--   return app                              -- hype serve app.lua; or app:listen(3000)
--
-- Division of labour (SPEC 1 rule 3, one crossing per request): Python (hypelua.http)
-- matches the request path against every layer with Starlette's compiled path
-- regexes and calls `dispatch` once with the matching layers; the middleware chain,
-- `next()`/`next(err)` and the handlers run here, as one async function (a coroutine
-- on the event loop: handlers may `await`), and the finished response goes back in
-- one host call.  Executed once per runtime with the host table (see
-- py/hypelua/http/_host.py); the runtime's own chunk (the watch hook never stops it).
local host, json = ...
local loop = package.loaded["hype.loop"]
local EventEmitter = package.loaded["hype.events"].EventEmitter
local W = package.loaded["hype.watch"]
local pcall, xpcall = W and W.raw.pcall or pcall, W and W.raw.xpcall or xpcall
local type, tostring, tonumber, error, setmetatable, getmetatable, rawget, rawset, select, pairs, ipairs =
  type, tostring, tonumber, error, setmetatable, getmetatable, rawget, rawset, select, pairs, ipairs
local traceback, lower, find, match, format, concat, unpack, tointeger =
  debug.traceback, string.lower, string.find, string.match, string.format, table.concat, table.unpack,
  math.tointeger
local spawn = loop.spawn_pooled

local M = {}

--------------------------------------------------------------------- errors
-- Errors raised by this module are tables { code, message, status, hint } with
-- __tostring "[CODE] message" (the shape of hypelua's HypeError).
local HttpError = { __name = "HttpError" }
HttpError.__index = HttpError
HttpError.__tostring = function(e) return "[" .. e.code .. "] " .. e.message end

local function http_error(code, message, status, hint)
  return setmetatable({ code = code, message = message, status = status or 500, hint = hint }, HttpError)
end
M.HttpError = HttpError

--- raise a typed error at the caller's caller (level 3: user code calling a res/req method)
local function fail(code, message, status, hint)
  error(http_error(code, message, status, hint), 3)
end

--- http.error(status, message [, code]): an error value that the default error
--- handler answers with `status` (Express's http-errors)
function M.error(status, message, code)
  status = tointeger(status) or 500
  return http_error(code or ("HTTP_" .. status), message or ("HTTP " .. status), status)
end

-- "TypeName: [CODE] message" (a typed Python error raised inside Lua) -> CODE, message
local function classify(err)
  if getmetatable(err) == HttpError then return err.code, err.message, err.status end
  if err == "not enough memory" then return "LUA_MEMORY_ERROR", "the Lua heap limit was exceeded", 500 end
  local text = type(err) == "string" and err or tostring(err)
  local code, msg = match(text, "^[%w_%.]+: %[([%u%d_]+)%] (.*)$")
  if code == "TIMEOUT" or code == "INTERRUPTED" then return code, msg, 503 end
  if code then return code, msg, 500 end
  return "LUA_RUNTIME_ERROR", text, 500
end

--------------------------------------------------------------------- apps
-- A layer: { kind = "use" | "route" | "error" | "static" | "ws" | "mount", method = "GET" | false,
--            path = "/x", fn = handler | router = app | dir = "./public" }
local App = {}
App.__index = App
App.__name = "HttpApp"

local generation = 0 -- bumped by every change to any app: the host recompiles its matchers
local function changed() generation = generation + 1 end

--- http.app() -> a new app; http.router() is the same thing, meant to be mounted
function M.app()
  changed()
  return setmetatable({ stack = {}, exports = {}, settings = {} }, App)
end
M.router = M.app

local function is_app(v) return getmetatable(v) == App end

local function check_path(path, what)
  if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    error(http_error("HTTP_BAD_ROUTE", what .. ": the path must be a string starting with '/' (got "
      .. tostring(path) .. ")", 500, "Write routes as \"/users/:id\"."), 3)
  end
end

local function check_fn(fn, what)
  if type(fn) ~= "function" and not (type(fn) == "table" and getmetatable(fn) and getmetatable(fn).__call) then
    error(http_error("HTTP_BAD_ROUTE", what .. ": expected a handler function, got " .. type(fn), 500), 3)
  end
end

local function add_route(self, method, path, ...)
  check_path(path, "app:" .. (method and lower(method) or "all"))
  local n = select("#", ...)
  if n == 0 then error(http_error("HTTP_BAD_ROUTE", "no handler given for " .. path, 500), 3) end
  for i = 1, n do
    local fn = select(i, ...)
    check_fn(fn, "app:" .. (method and lower(method) or "all") .. "(\"" .. path .. "\")")
    self.stack[#self.stack + 1] = { kind = "route", method = method or false, path = path, fn = fn }
  end
  changed()
  return self
end

for _, m in ipairs({ "get", "post", "put", "delete", "patch", "head", "options" }) do
  local METHOD = m:upper()
  App[m] = function(self, path, ...) return add_route(self, METHOD, path, ...) end
end
App.del = App.delete
--- app:all(path, fn...): every method
function App:all(path, ...) return add_route(self, nil, path, ...) end

--- app:use([path,] fn_or_router...): middleware (fn(req, res, next)) or a mounted
--- router, for every path under `path` (default "/")
function App:use(path, ...)
  local args
  if type(path) == "string" then args = table.pack(...)
  else args = table.pack(path, ...); path = "/" end
  check_path(path, "app:use")
  if args.n == 0 then error(http_error("HTTP_BAD_ROUTE", "app:use: no middleware given", 500), 2) end
  for i = 1, args.n do
    local v = args[i]
    if is_app(v) then
      if v == self then error(http_error("HTTP_BAD_ROUTE", "app:use: an app cannot mount itself", 500), 2) end
      self.stack[#self.stack + 1] = { kind = "mount", method = false, path = path, router = v }
    else
      check_fn(v, "app:use")
      self.stack[#self.stack + 1] = { kind = "use", method = false, path = path, fn = v }
    end
  end
  changed()
  return self
end

--- app:on_error(fn(err, req, res, next)): error middleware, in stack order (Express's
--- four-argument middleware); next(err) passes the error on, next() recovers
function App:on_error(fn)
  check_fn(fn, "app:on_error")
  self.stack[#self.stack + 1] = { kind = "error", method = false, path = "/", fn = fn }
  changed()
  return self
end

--- app:static(prefix, directory [, options]): files under `directory` (relative to
--- the app's file) at `prefix`; a missing file falls through to the next layer
--- (options.fallthrough = false: 404 at once).  Served by Starlette's StaticFiles.
function App:static(prefix, dir, options)
  check_path(prefix, "app:static")
  if type(dir) ~= "string" then
    error(http_error("HTTP_BAD_ROUTE", "app:static: the directory must be a string", 500), 2)
  end
  local fallthrough = not (type(options) == "table" and options.fallthrough == false)
  self.stack[#self.stack + 1] = { kind = "static", method = false, path = prefix, dir = dir,
    fallthrough = fallthrough, html = type(options) == "table" and options.html or false }
  changed()
  return self
end

--- app:ws(path, fn(ws, req)): a WebSocket endpoint (ws: EventEmitter with
--- "message" (data), "close" (code, reason); ws:send(data), ws:close([code, reason]))
function App:ws(path, fn)
  check_path(path, "app:ws")
  check_fn(fn, "app:ws")
  self.stack[#self.stack + 1] = { kind = "ws", method = false, path = path, fn = fn }
  changed()
  return self
end

function App:set(name, value) self.settings[name] = value; return self end

--- app:listen(port [, host] [, callback(port)]): serve this app on uvicorn inside the
--- running program (`hype run`; port 0 picks a free one, given to the callback).
--- Returns a server: server:close() stops it; server.closed is a promise of its end.
function App:listen(port, hostname, callback)
  if type(hostname) == "function" then callback, hostname = hostname, nil end
  local id = M._register(self)
  local server = { app = self }
  server.closed = host.listen(id, tointeger(port) or 3000, hostname or "127.0.0.1", callback or false)
  function server.close() return host.stop(id) end
  return server
end

--- app:live(path, view): serve a LiveView (require("hype.live").view{...}) at `path`:
--- GET renders the page, the WebSocket /_hype/live/ws serves the protocol (hypelua.live)
function App:live(path, view)
  check_path(path, "app:live")
  local live = require("hype.live")
  if getmetatable(view) ~= live.ViewDef then
    error(http_error("HTTP_BAD_ROUTE", "app:live: expected a live.view{...}, got a " .. type(view) .. " value", 500,
      "Pass the view a file returns: app:live(\"/\", require(\"./counter\"))."), 2)
  end
  self.lives = self.lives or {}
  self.lives[#self.lives + 1] = { path = path, view = view }
  changed()
  return self
end

--- (host) a file's result as an app: an app as it is; a live view served at "/" by a new app
function M._as_app(v)
  if not is_app(v) and type(v) == "table" and package.loaded["hype.live"] ~= nil
      and getmetatable(v) == require("hype.live").ViewDef then
    return M.app():live("/", v)
  end
  return v
end

--------------------------------------------------------------------- compile
-- Flatten the stack (mounted routers prefixed) into layers; the host turns each
-- description into a Starlette path matcher.
local function join(prefix, path)
  if prefix == "/" or prefix == "" then return path end
  if path == "/" then return prefix end
  if prefix:sub(-1) == "/" then prefix = prefix:sub(1, -2) end
  return prefix .. path
end

local function flatten(app, prefix, out, seen)
  if seen[app] then error(http_error("HTTP_BAD_ROUTE", "a router is mounted inside itself", 500), 0) end
  seen[app] = true
  for _, layer in ipairs(app.stack) do
    local full = join(prefix, layer.path)
    if layer.kind == "mount" then
      flatten(layer.router, full, out, seen)
    else
      out[#out + 1] = { layer = layer, path = full, base = prefix }
    end
  end
  seen[app] = nil
  return out
end

local compiled = setmetatable({}, { __mode = "k" }) -- app -> flat layers
local apps, ids, last_id = {}, setmetatable({}, { __mode = "k" }), 0 -- apps served by the host

--- (host) app -> its id (the host refers to apps by id)
function M._register(app)
  if not is_app(app) then
    error(http_error("HTTP_NOT_AN_APP", "expected an app made by require(\"hype.http\").app(), got a "
      .. type(app) .. " value", 500, "End the app's file with `return app`."), 2)
  end
  local id = ids[app]
  if id == nil then
    last_id = last_id + 1
    id = last_id
    ids[app], apps[id] = id, app
  end
  return id
end

--- (host) forget app `id` (LuaApp.close)
function M._unregister(id)
  local app = apps[id]
  if app == nil then return end
  apps[id] = nil
  ids[app] = nil
  compiled[app] = nil
end

--- (host) an exported function of an app (app.exports[name]), for Python callers
function M._export(id, name)
  local app = apps[id]
  local fn = app and app.exports[name]
  if fn == nil then return nil end
  return fn
end

--- (host) the live views of app `id`: { {starlette path, view definition id}, ... }
function M._lives(id)
  local app = apps[id]
  local out = {}
  if app == nil or app.lives == nil then return out end
  local live = require("hype.live")
  for i, l in ipairs(app.lives) do
    out[i] = { (l.path:gsub(":([%a_][%w_]*)", "{%1}")), live._register(l.view) }
  end
  return out
end

--- (host) -> generation, descriptions {kind, method|false, path, dir|false, fallthrough, html}
function M._compile(id)
  local app = apps[id]
  local flat = flatten(app, "/", {}, {})
  compiled[app] = flat
  local desc = {}
  for i, f in ipairs(flat) do
    local l = f.layer
    desc[i] = { l.kind, l.method, f.path, l.dir or false, l.fallthrough ~= false, l.html or false }
  end
  return generation, desc
end

function M._generation() return generation end

--------------------------------------------------------------------- requests
local Request = {}
local lazy = {}

function lazy.query(req) return host.query(req._rid) or {} end
function lazy.headers(req) return host.headers(req._rid) or {} end
function lazy.cookies(req) return host.cookies(req._rid) or {} end
function lazy.url(req)
  local qs = req.querystring
  return qs ~= "" and (req.path .. "?" .. qs) or req.path
end
function lazy.originalUrl(req) return req.url end

Request.__index = function(req, k)
  local m = Request[k]
  if m ~= nil then return m end
  local f = lazy[k]
  if f ~= nil then
    local v = f(req)
    rawset(req, k, v)
    return v
  end
  return nil
end
Request.__name = "HttpRequest"

--- req:get(name) -> header value (case-insensitive) or nil
function Request:get(name)
  return self.headers[lower(tostring(name))]
end
Request.header = Request.get

--- req:json() -> the body parsed as JSON (cached); 400 BAD_JSON when it is not JSON
function Request:json()
  local cached = rawget(self, "_json")
  if cached ~= nil then return cached[1] end
  local body = self.body
  if body == nil or body == "" then
    fail("BAD_JSON", "the request has no body (expected JSON)", 400, "Send a JSON body.")
  end
  local ok, value = pcall(json.decode, body)
  if not ok then
    local _, msg = classify(value)
    fail("BAD_JSON", "the request body is not valid JSON: " .. tostring(msg), 400,
      "Send a well-formed JSON document with Content-Type: application/json.")
  end
  rawset(self, "_json", { value })
  return value
end

--- req:form() -> fields of a urlencoded or multipart form (Starlette's parser;
--- file fields are { filename, content_type, size, content }); must run in a handler
function Request:form()
  local cached = rawget(self, "_form")
  if cached ~= nil then return cached end
  local ok, value = pcall(loop.await, host.form(self._rid))
  if not ok then
    local code, msg = classify(value)
    if code == "LUA_RUNTIME_ERROR" then code = "BAD_FORM" end
    fail(code, "the request body is not a valid form: " .. tostring(msg), 400,
      "Send application/x-www-form-urlencoded or multipart/form-data.")
  end
  rawset(self, "_form", value)
  return value
end

--- req:on("close", fn): the client went away before the response ended
function Request:on(name, fn)
  local ls = rawget(self, "_on")
  if ls == nil then ls = {}; rawset(self, "_on", ls) end
  ls[#ls + 1] = { name, fn }
  return self
end

local function emit(req, name, ...)
  local ls = rawget(req, "_on")
  if ls == nil then return end
  for _, l in ipairs(ls) do
    if l[1] == name then
      local ok, err = pcall(l[2], ...)
      if not ok then host.log_error(tostring(err), traceback(tostring(err))) end
    end
  end
end

--------------------------------------------------------------------- responses
local Response = {}
Response.__index = Response
Response.__name = "HttpResponse"

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

local function header_value(name, value, what)
  if type(name) ~= "string" or not find(name, TOKEN) then
    fail("HTTP_BAD_HEADER", what .. ": invalid header name " .. format("%q", tostring(name)), 500,
      "Header names are tokens: letters, digits and !#$%&'*+-.^_`|~.")
  end
  if type(value) == "table" then value = concat(value, ", ") end
  value = tostring(value)
  if find(value, "[\r\n%z]") then
    fail("HTTP_BAD_HEADER", what .. ": the value of " .. name .. " contains CR, LF or NUL", 500,
      "Header values may not contain line breaks (response splitting).")
  end
  return value
end

local function assert_open(self, what)
  if self.finished then
    fail("HTTP_HEADERS_SENT", what .. ": the response was already sent", 500,
      "Call res:send/json/... once per request, and return after it.")
  end
end

--- res:status(code) -> res (chainable); 100..599
function Response:status(code)
  local c = tointeger(code)
  if c == nil or c < 100 or c > 599 then
    fail("HTTP_BAD_STATUS", "res:status: invalid status code " .. tostring(code), 500)
  end
  self.statusCode = c
  return self
end

--- res:set(name, value) or res:set{ name = value, ... } -> res
function Response:set(name, value)
  if type(name) == "table" then
    for k, v in pairs(name) do self:set(k, v) end
    return self
  end
  if self.headersSent then fail("HTTP_HEADERS_SENT", "res:set: the headers were already sent", 500) end
  value = header_value(name, value, "res:set")
  self._headers[lower(name)] = { name, value }
  return self
end
Response.header = Response.set

--- res:get(name) -> the value set for that header, or nil
function Response:get(name)
  local h = self._headers[lower(tostring(name))]
  return h and h[2]
end

--- res:type(t): Content-Type ("json", "html", "text" or a full type) -> res
local TYPES = { json = "application/json", html = "text/html; charset=utf-8", text = "text/plain; charset=utf-8",
  xml = "application/xml", js = "text/javascript; charset=utf-8", css = "text/css; charset=utf-8" }
function Response:type(t)
  return self:set("Content-Type", TYPES[t] or t)
end

-- headers cross as one string "name\0value\0name\0value" (no table conversion;
-- names and values never contain NUL: res:set refuses it)
local function flat_headers(self)
  local acc = false
  for _, h in pairs(self._headers) do
    if acc then acc = acc .. "\0" .. h[1] .. "\0" .. h[2] else acc = h[1] .. "\0" .. h[2] end
  end
  return acc
end

-- A response finished while _dispatch is still running (a handler that did not
-- await) goes back as _dispatch's results instead of a host call: one crossing less.
local sync_rid, s_done, s_status, s_body, s_headers, s_cookies, s_kind = nil, false

local CT_HTML = { "Content-Type", "text/html; charset=utf-8" }
local CT_TEXT = { "Content-Type", "text/plain; charset=utf-8" }
local CT_JSON = { "Content-Type", "application/json" }

local function finish(self, body, kind)
  assert_open(self, "res:send")
  self.finished = true
  self.headersSent = true
  if self._rid == sync_rid then
    s_done, s_status, s_body, s_headers, s_cookies, s_kind =
      true, self.statusCode, body, flat_headers(self), self._cookies or false, kind or false
    return true
  end
  return host.respond(self._rid, self.statusCode, body, flat_headers(self), self._cookies or false, kind or false)
end

--- res:send([body]): a string (Content-Type text/html unless set), a table (JSON) or nothing
function Response:send(body)
  if self._streaming then
    if body ~= nil then self:write(body) end
    return self:finish()
  end
  local t = type(body)
  if t == "table" then return self:json(body) end
  if body == nil then body = ""
  elseif t ~= "string" then body = tostring(body) end
  if self._headers["content-type"] == nil then self._headers["content-type"] = CT_HTML end
  return finish(self, body)
end

--- res:html(string), res:text(string)
function Response:html(body)
  self._headers["content-type"] = CT_HTML
  return finish(self, body == nil and "" or tostring(body))
end
function Response:text(body)
  self._headers["content-type"] = CT_TEXT
  return finish(self, body == nil and "" or tostring(body))
end

--- res:json(value): JSON body (a sequence is an array; an empty table is {})
function Response:json(value)
  assert_open(self, "res:json")
  local ok, body = pcall(json.encode, value)
  if not ok then
    local _, msg = classify(body)
    fail("HTTP_BAD_JSON_VALUE", "res:json: the value cannot be encoded as JSON: " .. tostring(msg), 500,
      "Send plain data: nil, booleans, numbers, strings and tables of them.")
  end
  if self._headers["content-type"] == nil then self._headers["content-type"] = CT_JSON end
  return finish(self, body)
end

--- res:redirect([status,] url): 302 unless a status is given
function Response:redirect(status, url)
  if url == nil then url, status = status, 302 end
  self:status(status)
  self:set("Location", header_value("Location", url, "res:redirect"))
  return self:html("Redirecting to " .. tostring(url):gsub("[<>&\"]", ""))
end

local COOKIE_OPTS = { max_age = true, expires = true, path = true, domain = true, secure = true, httponly = true,
  samesite = true, http_only = true, maxAge = true, httpOnly = true, sameSite = true, partitioned = true }

--- res:cookie(name, value [, { max_age, expires, path, domain, secure, httponly, samesite }])
--- (Starlette's Response.set_cookie; max_age in seconds)
function Response:cookie(name, value, opts)
  assert_open(self, "res:cookie")
  if type(name) ~= "string" or not find(name, TOKEN) then
    fail("HTTP_BAD_HEADER", "res:cookie: invalid cookie name " .. format("%q", tostring(name)), 500)
  end
  value = value == nil and "" or tostring(value)
  if find(value, "[\r\n%z]") then
    fail("HTTP_BAD_HEADER", "res:cookie: the value of cookie " .. name .. " contains CR, LF or NUL", 500,
      "Cookie values may not contain line breaks (response splitting).")
  end
  local c = { key = name, value = value }
  if type(opts) == "table" then
    for k, v in pairs(opts) do
      if not COOKIE_OPTS[k] then fail("HTTP_BAD_COOKIE", "res:cookie: unknown option " .. tostring(k), 500) end
      if type(v) == "string" and find(v, "[\r\n%z;]") then
        fail("HTTP_BAD_HEADER", "res:cookie: option " .. k .. " contains CR, LF, NUL or ';'", 500)
      end
      local key = k == "maxAge" and "max_age" or (k == "httpOnly" or k == "http_only") and "httponly"
        or k == "sameSite" and "samesite" or k
      c[key] = v
    end
  end
  local list = self._cookies
  if list == nil then list = {}; self._cookies = list end
  list[#list + 1] = c
  return self
end

--- res:clear_cookie(name [, opts]): expire a cookie (same path/domain as set)
function Response:clear_cookie(name, opts)
  local o = {}
  if type(opts) == "table" then for k, v in pairs(opts) do o[k] = v end end
  o.max_age, o.maxAge, o.expires = 0, nil, 0
  return self:cookie(name, "", o)
end

--- res:sendfile(path): a file (relative to the app's file), with Content-Type by
--- extension and conditional GET (Starlette's FileResponse); 404 when missing
function Response:sendfile(path)
  if type(path) ~= "string" then fail("HTTP_BAD_FILE", "res:sendfile: the path must be a string", 500) end
  return finish(self, path, "file")
end

--- res:write(chunk): stream the body (headers go out with the first write);
--- false when the client has gone.  res:finish([chunk]) ends the stream.
function Response:write(chunk)
  if self.finished then return false end
  if chunk == nil then return true end
  if type(chunk) ~= "string" then chunk = tostring(chunk) end
  if not self._streaming then
    self._streaming = true
    self.headersSent = true
    if self._headers["content-type"] == nil then self._headers["content-type"] = CT_TEXT end
    if not host.stream_start(self._rid, self.statusCode, flat_headers(self), self._cookies or false) then
      self.finished = true
      return false
    end
  end
  if self.closed then return false end
  return host.stream_write(self._rid, chunk)
end

function Response:finish(chunk)
  if chunk ~= nil then self:write(chunk) end
  if self.finished then return false end
  if not self._streaming then return finish(self, "") end
  self.finished = true
  return host.stream_end(self._rid)
end

--- res:sse() -> a Server-Sent Events stream: s:send(data [, { event, id, retry }])
--- (tables are sent as JSON), s:comment(text), s:close(); s.closed when the client left
local Sse = {}
Sse.__index = Sse

local function sse_field(name, value)
  value = tostring(value)
  if find(value, "[\r\n]") then fail("HTTP_BAD_SSE", "sse: the " .. name .. " may not contain line breaks", 500) end
  return name .. ": " .. value .. "\n"
end

function Sse:send(data, opts)
  if type(data) == "table" then data = json.encode(data) end
  local parts = {}
  if type(opts) == "table" then
    if opts.event then parts[#parts + 1] = sse_field("event", opts.event) end
    if opts.id then parts[#parts + 1] = sse_field("id", opts.id) end
    if opts.retry then parts[#parts + 1] = sse_field("retry", tointeger(opts.retry) or 0) end
  end
  data = tostring(data == nil and "" or data):gsub("\r\n", "\n"):gsub("\r", "\n")
  for line in (data .. "\n"):gmatch("([^\n]*)\n") do parts[#parts + 1] = "data: " .. line .. "\n" end
  parts[#parts + 1] = "\n"
  return self.res:write(concat(parts))
end
function Sse:comment(text) return self.res:write(": " .. tostring(text or ""):gsub("[\r\n]", " ") .. "\n\n") end
function Sse:close() return self.res:finish() end
Sse.__index = function(s, k)
  if k == "closed" then return s.res.closed or s.res.finished end
  return Sse[k]
end

function Response:sse()
  self:set("Content-Type", "text/event-stream")
  self:set("Cache-Control", "no-cache")
  self:set("X-Accel-Buffering", "no")
  local s = setmetatable({ res = self }, Sse)
  self:write(": stream\n\n")
  return s
end

--------------------------------------------------------------------- dispatch
local requests = {} -- rid -> req (requests in flight: the host can tell them the client left)

local function default_error(err, req, res, tb)
  local code, msg, status = classify(err)
  if status >= 500 then host.log_error(req.method .. " " .. req.path .. ": " .. tostring(msg), tb or "") end
  if res.finished then return end
  if res._streaming then res:finish(); return end
  res.statusCode = status
  res._headers = {}
  res._cookies = nil
  local e = { code = code, message = msg }
  if getmetatable(err) == HttpError and err.hint then e.hint = err.hint end
  if M.dev and tb then e.traceback = tb end
  local ok = pcall(res.json, res, { error = e })
  if not ok and not res.finished then -- e.g. out of memory: a body made by the host
    host.respond(res._rid, status, false, false, false, "error:" .. code)
    res.finished = true
  end
end

local function not_found(req, res)
  if res.finished then return end
  res.statusCode = 404
  res._headers["content-type"] = nil
  res:json({ error = { code = "NOT_FOUND", message = "Cannot " .. req.method .. " " .. req.path } })
end

local function on_trace(e)
  if e == "not enough memory" then return e end
  local ok, tb = pcall(traceback, type(e) == "string" and e or tostring(e), 2)
  return { __hype_err = e, tb = ok and tb or nil }
end

local function unwrap(e)
  if type(e) == "table" and rawget(e, "__hype_err") ~= nil then return e.__hype_err, e.tb end
  return e, nil
end

local function run(layers, matches, n, req, res)
  local i = -1
  local next_
  next_ = function(err)
    if err == "route" or err == "router" then err = nil end
    while true do
      i = i + 2
      if i > n then break end
      local f = layers[matches[i]]
      local layer = f.layer
      local params = matches[i + 1]
      local kind = layer.kind
      if err ~= nil then
        if kind == "error" then
          req.params = params or {}
          local ok, e = xpcall(layer.fn, on_trace, err, req, res, next_)
          if not ok then
            local raw, tb = unwrap(e)
            default_error(raw, req, res, tb)
          end
          return
        end
      elseif kind ~= "error" then
        req.params = params or {}
        req.baseUrl = f.base ~= "/" and f.base or ""
        if kind == "static" then
          local file = host.static(res._rid, matches[i], params and params.__rest or "")
          if file then return finish(res, file, "static") end
          if not layer.fallthrough then return not_found(req, res) end
        else
          local ok, e = xpcall(layer.fn, on_trace, req, res, next_)
          if not ok then
            local raw, tb = unwrap(e)
            local code = classify(raw)
            -- a stopped handler (TIMEOUT) or a heap blow-up skips the user's error handlers
            if code == "TIMEOUT" or code == "INTERRUPTED" or code == "LUA_MEMORY_ERROR" then
              host.rearm()
              return default_error(raw, req, res, tb)
            end
            req.error_traceback = tb
            return next_(raw)
          end
          return
        end
      end
    end
    if err ~= nil then return default_error(err, req, res, req.error_traceback) end
    return not_found(req, res)
  end
  next_()
end

local function settle(rid)
  requests[rid] = nil
end

--- (host) one request: the app id, the routes' generation, rid, method, path, query
--- string, client ip, body, then the matching layers as n values (layer index, params|false, ...)
function M._dispatch(id, gen, rid, method, path, qs, ip, body, n, ...)
  if gen ~= generation then return true end -- routes changed: the host recompiles and calls again
  -- results: stale (true: call again), then status, body, headers, cookies, kind when the
  -- response was finished before the first await (else it comes through host.respond)
  local app = apps[id]
  local flat = compiled[app]
  local req = setmetatable({ _rid = rid, method = method, path = path, querystring = qs, ip = ip, body = body,
    app = app }, Request)
  local res = setmetatable({ _rid = rid, statusCode = 200, _headers = {}, finished = false, headersSent = false,
    closed = false, req = req, app = app }, Response)
  req.res = res
  sync_rid, s_done = rid, false
  local p = spawn(run, flat, { ... }, n, req, res)
  sync_rid = nil
  if p ~= nil then -- it awaits: the host may tell it that the client went away
    requests[rid] = req
    p:next(function() settle(rid) end, function(e)
      settle(rid)
      default_error(e, req, res)
    end)
  end
  if s_done then
    s_done = false
    return false, s_status, s_body, s_headers, s_cookies, s_kind
  end
  return false
end

--- (host) the client of request rid went away (or the host gave up on it)
function M._closed(rid)
  local req = requests[rid]
  if req == nil then return end
  requests[rid] = nil
  req.res.closed = true
  req.res.finished = true
  emit(req, "close")
end

--------------------------------------------------------------------- websockets
local Ws = EventEmitter:extend()
Ws.__name = "WebSocket"
local sockets = {} -- cid -> ws

--- ws:send(data): a text frame for strings that are valid UTF-8 (bytes otherwise);
--- tables are sent as JSON text.  false once the socket is closed.
function Ws:send(data)
  if self.readyState ~= "open" then return false end
  if type(data) == "table" then data = json.encode(data) end
  return host.ws_send(self._cid, data)
end

--- ws:close([code [, reason]]): close (default 1000)
function Ws:close(code, reason)
  if self.readyState ~= "open" then return false end
  self.readyState = "closing"
  return host.ws_close(self._cid, tointeger(code) or 1000, reason and tostring(reason) or "")
end

local function ws_fail(ws, err, tb)
  local code, msg = classify(err)
  if code == "TIMEOUT" or code == "INTERRUPTED" then host.rearm() end
  host.log_error("websocket " .. ws.path .. ": " .. tostring(msg), tb or "")
  if ws.readyState == "open" then
    ws.readyState = "closing"
    host.ws_close(ws._cid, 1011, M.dev and tostring(msg):sub(1, 120) or "internal error")
  end
end

local function ws_run(ws, fn, ...)
  local ok, e = xpcall(fn, on_trace, ...)
  if not ok then
    local raw, tb = unwrap(e)
    ws_fail(ws, raw, tb)
  end
end

--- (host) a WebSocket connection was accepted for layer `index` of `app`
function M._ws_open(id, gen, cid, index, params, path, qs, ip)
  if gen ~= generation then return true end
  local app = apps[id]
  local f = compiled[app][index]
  local req = setmetatable({ _rid = -cid, method = "GET", path = path, querystring = qs, ip = ip, body = "",
    params = params or {}, app = app }, Request)
  local ws = Ws.new()
  ws._cid, ws.path, ws.readyState, ws.req = cid, path, "open", req
  sockets[cid] = ws
  spawn(ws_run, ws, f.layer.fn, ws, req)
end

--- (host) an event for connection cid: "message" (data) or "close" (code, reason)
function M._ws_event(cid, name, a, b)
  local ws = sockets[cid]
  if ws == nil then return end
  if name == "close" then
    sockets[cid] = nil
    ws.readyState = "closed"
  end
  spawn(ws_run, ws, ws.emit, ws, name, a, b)
end

host.bind({
  dispatch = M._dispatch, closed = M._closed, ws_open = M._ws_open, ws_event = M._ws_event,
  compile = M._compile, register = M._register, lives = M._lives, as_app = M._as_app, unregister = M._unregister, export = M._export,
  configure = function(opts) M.dev = opts.dev and true or false end,
})
return M
