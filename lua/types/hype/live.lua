---@meta hype.live
-- require("hype.live"): LiveViews in Lua (server-rendered, diffed over a WebSocket),
-- driven by the same Python session and differ as Python views.

---A view instance: `self` in the hooks.
---@class hype.live.View
---@field assigns table The current assigns (read them; change them with assign/update).
---@field connected boolean false during the first (static) render.
local View = {}

---Assign values: `self:assign{ name = value, ... }` or `self:assign("name", value)` (can assign nil).
---@param a string|table
---@param b? any
function View:assign(a, b) end

---`assign(name, fn(assigns[name]))`.
---@param name string
---@param fn fun(old: any): any
function View:update(name, fn) end

---Render items once in `{% for item in streams.NAME key item.id %}`; the server does not keep them.
---@param name string
---@param items table[]
---@param opts? { at?: integer, reset?: boolean }
function View:stream(name, items, opts) end

---Insert an item into a stream (or replace it in place, same key).
---@param name string
---@param item table
---@param opts? { at?: integer }
function View:stream_insert(name, item, opts) end

---Remove the stream entry with that key on the client.
---@param name string
---@param key any
function View:stream_delete(name, key) end

---Get `handle_info(self, msg)` for every broadcast on `topic`.
---@param topic string
function View:subscribe(topic) end

---@param topic string
function View:unsubscribe(topic) end

---Send `msg` to this view's handle_info (after `after_ms`).
---@param msg any
---@param after_ms? number
function View:send_info(msg, after_ms) end

---Change the URL (handle_params runs; no remount).
---@param to string
function View:push_patch(to) end

---Navigate to another view.
---@param to string
function View:push_redirect(to) end

---Broadcast to every view subscribed to `topic`; await the promise to know it was delivered.
---@param topic string
---@param msg any
---@return Promise
function View:broadcast(topic, msg) end

---Validate `data` against the JSON Schema (default: the view's `schema`); the errors
---(field -> message) are returned and assigned as `errors`.
---@param data table
---@param schema? table
---@return table<string, string>
function View:validate(data, schema) end

---@class hype.live.ViewDef
---@field template? string The template source ({{ expr }}, {% for %}, hype-on:click=...).
---@field mount? fun(self: hype.live.View, params: table, session: table)
---@field handle_event? fun(self: hype.live.View, event: string, payload: any)
---@field handle_params? fun(self: hype.live.View, params: table, uri: string)
---@field handle_info? fun(self: hype.live.View, msg: any)
---@field updated? fun(self: hype.live.View)
---@field terminate? fun(self: hype.live.View, reason: any)
---@field render? fun(self: hype.live.View): string Returns a template source.
---@field events? string[] Extra event names.
---@field schema? table JSON Schema of the form.
---@field components? table<string, any> Names the template may use.

---@class hype.live.ComponentDef: hype.live.ViewDef
---@field update? fun(self: hype.live.View, assigns: table)

---A function component: called in a template as `{{ card{ title = x } }}`.
---@class hype.live.FnComponent
---@overload fun(args: table): any

---@class hype.live
---@field ViewDef table The metatable of view definitions.
---@field ComponentDef table The metatable of component definitions.
---@field FnComponent table The metatable of function components.
local live = {}

---A view definition (`return live.view{...}` from a view file).
---@param t hype.live.ViewDef
---@return hype.live.ViewDef
function live.view(t) end

---A stateful component, used in a template as `{{ live_component(Card, { id = "c1", ... }) }}`.
---@param t hype.live.ComponentDef
---@return hype.live.ComponentDef
function live.component(t) end

---A function component: renders `template` with the call's table as its assigns.
---@param template string
---@return hype.live.FnComponent
function live.fn_component(template) end

---A stateful child component in a template (assigns must have an `id`).
---@param def hype.live.ComponentDef
---@param assigns table
---@return table
function live.live_component(def, assigns) end

---`x` unescaped (only needed inside a larger expression: `{{ raw(x) }}` is compiled).
---@param x any
---@return table
function live.raw(x) end

---A number as the template renders it (integers plain, floats "%.1f" or shortest round-trip).
---@param v number
---@return string
function live.numstr(v) end

---Subscribe the view whose hook is running to `topic`.
---@param topic string
function live.subscribe(topic) end

---@param topic string
function live.unsubscribe(topic) end

---Broadcast to every view subscribed to `topic` (across workers with --pubsub).
---@param topic string
---@param msg any
---@return Promise
function live.broadcast(topic, msg) end

return live
