---@meta hype.http
-- require("hype.http"): Express-like HTTP apps, served by Starlette + uvicorn
-- (`hype serve app.lua` with `return app`, or `app:listen(port)`).

---An error value `{ code, message, status, hint }` (prints "[CODE] message").
---@class hype.http.HttpError
---@field code string
---@field message string
---@field status integer
---@field hint? string

---@alias hype.http.Next fun(err?: any)
---@alias hype.http.Handler fun(req: hype.http.Request, res: hype.http.Response, next: hype.http.Next)
---@alias hype.http.ErrorHandler fun(err: any, req: hype.http.Request, res: hype.http.Response, next: hype.http.Next)

---@class hype.http.Request
---@field method string
---@field path string
---@field url string Path and query string.
---@field originalUrl string
---@field querystring string
---@field query table<string, string> Parsed query string (lazy).
---@field headers table<string, string> Lower-case names (lazy).
---@field cookies table<string, string>
---@field params table<string, string> Route parameters (`/users/:id`).
---@field ip string
---@field body string The raw body.
---@field app hype.http.App
---@field res hype.http.Response
local Request = {}

---A header value (case-insensitive) or nil; also `req:header(name)`.
---@param name string
---@return string|nil
function Request:get(name) end

---@param name string
---@return string|nil
function Request:header(name) end

---The body parsed as JSON (cached); 400 BAD_JSON when it is not JSON.
---@return any
function Request:json() end

---Fields of a urlencoded or multipart form (file fields: { filename, content_type,
---size, content }); must run in a handler.
---@return table<string, any>
function Request:form() end

---`req:on("close", fn)`: the client went away before the response ended.
---@param name "close"
---@param fn fun()
function Request:on(name, fn) end

---A Server-Sent Events stream (`res:sse()`).
---@class hype.http.Sse
---@field closed boolean The client left.
local Sse = {}

---Send an event (tables as JSON); false when the client has gone.
---@param data any
---@param opts? { event?: string, id?: string|integer, retry?: integer }
---@return boolean
function Sse:send(data, opts) end

---@param text string
---@return boolean
function Sse:comment(text) end

function Sse:close() end

---@class hype.http.Response
---@field statusCode integer
---@field finished boolean
---@field headersSent boolean
---@field closed boolean
---@field req hype.http.Request
---@field app hype.http.App
local Response = {}

---Set the status (100..599); chainable.
---@param code integer
---@return hype.http.Response
function Response:status(code) end

---Set a header, or several with a table; chainable. Also `res:header`.
---@param name string|table<string, string>
---@param value? string|string[]
---@return hype.http.Response
function Response:set(name, value) end

---@param name string|table<string, string>
---@param value? string|string[]
---@return hype.http.Response
function Response:header(name, value) end

---A response header set so far.
---@param name string
---@return string|nil
function Response:get(name) end

---Content-Type: "json", "html", "text" or a full type; chainable.
---@param t string
---@return hype.http.Response
function Response:type(t) end

---Send a string (text/html unless set), a table (JSON) or nothing.
---@param body? string|table
function Response:send(body) end

---@param body string
function Response:html(body) end

---@param body string
function Response:text(body) end

---A JSON body (a sequence is an array; an empty table is {}).
---@param value any
function Response:json(value) end

---Redirect (302 unless a status is given): `res:redirect(url)` or `res:redirect(301, url)`.
---@param status integer|string
---@param url? string
function Response:redirect(status, url) end

---Set a cookie (max_age in seconds).
---@param name string
---@param value string
---@param opts? { max_age?: integer, expires?: any, path?: string, domain?: string, secure?: boolean, httponly?: boolean, samesite?: "lax"|"strict"|"none" }
---@return hype.http.Response
function Response:cookie(name, value, opts) end

---Expire a cookie (same path/domain as set).
---@param name string
---@param opts? { path?: string, domain?: string }
---@return hype.http.Response
function Response:clear_cookie(name, opts) end

---Send a file (relative to the app's file) with Content-Type by extension and
---conditional GET; 404 when missing.
---@param path string
function Response:sendfile(path) end

---Stream the body (headers go out with the first write); false when the client has gone.
---@param chunk string
---@return boolean
function Response:write(chunk) end

---End a streamed body.
---@param chunk? string
function Response:finish(chunk) end

---Start a Server-Sent Events stream.
---@return hype.http.Sse
function Response:sse() end

---A WebSocket (an EventEmitter: "message" (data), "close" (code, reason)).
---@class hype.http.WebSocket: hype.EventEmitter
local Ws = {}

---A text frame for valid UTF-8 strings (bytes otherwise); tables as JSON. false once closed.
---@param data string|table
---@return boolean
function Ws:send(data) end

---Close (default code 1000).
---@param code? integer
---@param reason? string
function Ws:close(code, reason) end

---A running server from `app:listen`.
---@class hype.http.Server
---@field app hype.http.App
---@field closed Promise Settles when it stops.
---@field close fun(): any `server.close()` stops it.

---An app (or a router, which is the same thing mounted with `app:use(path, router)`).
---@class hype.http.App
---@field settings table
local App = {}

---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:get(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:post(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:put(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:delete(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:del(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:patch(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:head(path, ...) end
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:options(path, ...) end

---A route for every method.
---@param path string
---@param ... hype.http.Handler
---@return hype.http.App
function App:all(path, ...) end

---Middleware `fn(req, res, next)` or a mounted router, for every path under `path` (default "/").
---@param path string|hype.http.Handler|hype.http.App
---@param ... hype.http.Handler|hype.http.App
---@return hype.http.App
function App:use(path, ...) end

---Error middleware, in stack order: `next(err)` passes the error on, `next()` recovers.
---@param fn hype.http.ErrorHandler
---@return hype.http.App
function App:on_error(fn) end

---Serve the files under `dir` (relative to the app's file) at `prefix`.
---@param prefix string
---@param dir string
---@param options? { fallthrough?: boolean }
---@return hype.http.App
function App:static(prefix, dir, options) end

---A WebSocket endpoint.
---@param path string
---@param fn fun(ws: hype.http.WebSocket, req: hype.http.Request)
---@return hype.http.App
function App:ws(path, fn) end

---An app setting.
---@param name string
---@param value any
---@return hype.http.App
function App:set(name, value) end

---Serve this app on uvicorn inside the running program (port 0 picks a free one).
---@param port integer
---@param hostname? string
---@param callback? fun(port: integer)
---@return hype.http.Server
function App:listen(port, hostname, callback) end

---Serve a LiveView (`require("hype.live").view{...}`) at `path`.
---@param path string
---@param view hype.live.ViewDef
---@return hype.http.App
function App:live(path, view) end

---@class hype.http
---@field HttpError hype.http.HttpError
local http = {}

---A new app.
---@return hype.http.App
function http.app() end

---A router (an app to mount with `app:use(path, router)`).
---@return hype.http.App
function http.router() end

---An error value the default error handler answers with `status` (Express's http-errors).
---@param status integer
---@param message? string
---@param code? string
---@return hype.http.HttpError
function http.error(status, message, code) end

return http
