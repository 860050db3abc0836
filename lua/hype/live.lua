-- hype.live: LiveViews in Lua (SPEC section 3 C, issue 10), driven by the same Python
-- session, protocol and differ as Python views (py/hypelua/live/_lua.py).
--
--   local live = require("hype.live")
--   return live.view{
--     template = [[<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>]],
--     mount = function(self, params, session) self:assign{ count = 0 } end,
--     handle_event = function(self, event, payload)
--       if event == "inc" then self:assign{ count = self.assigns.count + 1 } end
--     end,
--   }
--
-- Optional hooks: handle_params(self, params, uri), handle_info(self, msg), updated(self),
-- terminate(self, reason), render(self) (returns a template source); and `events`
-- (extra event names), `schema` (JSON Schema of the form), `components` (names the
-- template may use: stateful components, function components, helper functions).
--
-- Templates are compiled by the shared compiler (py/hypelua/live/_template.py) and
-- turned into one Lua render function per template source (expressions inlined as Lua:
-- `row.id`, `and`/`or`/`not`, `#items`, calls).  A render appends the Phoenix rendered
-- format as JSON text to a buffer and crosses the bridge once; the Python side adds the
-- statics (`"s"`) by fingerprint.  Only top-level parts reading a changed assign are
-- evaluated (the others are reused by the Python side from the previous render).
--
-- Executed once per runtime with the host table (LiveHost.lua_table in _lua.py) and
-- hype.json; the runtime's own chunk (the watch hook never stops it, it stops user code).
local host, json = ...
local loop = package.loaded["hype.loop"]
local W = package.loaded["hype.watch"]
local xpcall = W and W.raw.xpcall or xpcall
local type, tostring, error, setmetatable, getmetatable, pairs, ipairs, next, load, select =
  type, tostring, error, setmetatable, getmetatable, pairs, ipairs, next, load, select
local find, gsub, format, match, byte, concat, tointeger, mtype, getinfo, traceback, co_running =
  string.find, string.gsub, string.format, string.match, string.byte, table.concat, math.tointeger,
  math.type, debug.getinfo, debug.traceback, coroutine.running
local spawn = loop.spawn_pooled

local M = {}

--------------------------------------------------------------------- markers
local ViewDef = { __name = "LiveViewDef" }
local ComponentDef = { __name = "LiveComponentDef" }
local FnComponent = { __name = "LiveFunctionComponent" }
local Deferred = { __name = "LiveDeferred" }           -- a function component's output
local ComponentCall = { __name = "LiveComponentCall" } -- live_component(...)'s output
local StreamOps = { __name = "LiveStream" }            -- a stream's pending operations
local Raw = { __name = "LiveRaw" }                     -- raw(x) used inside a larger expression
M.ViewDef, M.ComponentDef, M.FnComponent = ViewDef, ComponentDef, FnComponent

local HOOKS = { "mount", "handle_params", "handle_event", "handle_info", "updated", "terminate", "render",
  "update" }

local function check_def(t, what)
  if type(t) ~= "table" then error(what .. ": expected a table, got " .. type(t), 3) end
  if t.template == nil and t.render == nil then
    error(what .. ": give a template (string) or a render(self) function returning one", 3)
  end
  if t.template ~= nil and type(t.template) ~= "string" then
    error(what .. ": template must be a string, got " .. type(t.template), 3)
  end
  for _, name in ipairs(HOOKS) do
    local f = t[name]
    if f ~= nil and type(f) ~= "function" then error(what .. ": " .. name .. " must be a function", 3) end
  end
  if t.components ~= nil and type(t.components) ~= "table" then
    error(what .. ": components must be a table of name = component", 3)
  end
end

--- live.view{ template = ..., mount = fn, handle_event = fn, ... } -> a view definition
function M.view(t)
  check_def(t, "live.view")
  return setmetatable(t, ViewDef)
end

--- live.component{ template = ..., mount = fn, update = fn, handle_event = fn } -> a stateful
--- component definition, used in a template as {{ live_component(Card, { id = "c1", ... }) }}
function M.component(t)
  check_def(t, "live.component")
  return setmetatable(t, ComponentDef)
end

--- live.fn_component(template) -> a function component: {{ card{ title = x } }} renders
--- `template` with the table's fields as its assigns (a nested render)
function M.fn_component(template)
  if type(template) ~= "string" then error("live.fn_component: expected a template string", 2) end
  return setmetatable({ template = template }, FnComponent)
end
FnComponent.__index = FnComponent
FnComponent.__call = function(fc, args)
  if args ~= nil and type(args) ~= "table" then error("a function component takes one table of assigns", 2) end
  return setmetatable({ fc = fc, args = args or {} }, Deferred)
end

--- live_component(Def, { id = ..., ... }) in a template: a stateful child component
local function live_component(def, assigns)
  if getmetatable(def) ~= ComponentDef then
    error("live_component: expected a live.component{...}, got " .. type(def), 2)
  end
  if type(assigns) ~= "table" or assigns.id == nil then
    error("live_component: give the assigns as a table with an id: live_component(C, { id = \"c1\" })", 2)
  end
  local rest = {}
  for k, v in pairs(assigns) do if k ~= "id" then rest[k] = v end end
  return setmetatable({ def = def, id = assigns.id, assigns = rest }, ComponentCall)
end
M.live_component = live_component

--- raw(x): x unescaped (only needed inside a larger expression; {{ raw(x) }} is compiled)
local function raw(x) return setmetatable({ s = x }, Raw) end
M.raw = raw

--------------------------------------------------------------------- definitions
local defs, def_ids, next_def = {}, {}, 0

--- (host) the id of a view or component definition (registered on first use)
local function def_id(def)
  local id = def_ids[def]
  if id == nil then
    next_def = next_def + 1
    id = next_def
    def_ids[def], defs[id] = id, def
  end
  return id
end

function M._register(def)
  local mt = getmetatable(def)
  if mt ~= ViewDef and mt ~= ComponentDef then
    error("[LIVE_NOT_A_VIEW] the file must return live.view{...} (got " .. type(def) .. ")", 0)
  end
  return def_id(def)
end

--- (host) what the Python side needs of a definition: kind, events, schema, hooks present
function M._meta(id)
  local def = defs[id]
  local events = {}
  if type(def.events) == "table" then
    for _, e in ipairs(def.events) do events[#events + 1] = tostring(e) end
  end
  local hooks = {}
  for _, name in ipairs(HOOKS) do if def[name] ~= nil then hooks[#hooks + 1] = name end end
  return getmetatable(def) == ViewDef and "view" or "component", events, def.schema or false, hooks
end

-- Names every template sees besides its assigns (Python views: a few safe builtins).
local SAFE = {
  string = string, math = math, table = table, utf8 = utf8, tostring = tostring, tonumber = tonumber,
  type = type, pairs = pairs, ipairs = ipairs, next = next, select = select,
  os = { date = os.date, time = os.time, clock = os.clock },
  live_component = live_component, raw = raw,
}
local bases = setmetatable({}, { __mode = "k" }) -- def -> metatable of its templates' environments

local function base_mt(def)
  local mt = bases[def]
  if mt == nil then
    local base = setmetatable({}, { __index = SAFE })
    if type(def.components) == "table" then for k, v in pairs(def.components) do base[k] = v end end
    if type(def.helpers) == "table" then for k, v in pairs(def.helpers) do base[k] = v end end
    mt = { __index = base }
    bases[def] = mt
  end
  return mt
end

local FN_BASE = { __index = SAFE }

--------------------------------------------------------------------- instances
local insts = {}  -- iid -> instance
local running = setmetatable({}, { __mode = "k" }) -- coroutine -> instance whose hook runs on it
local Methods = {}
local Inst = { __name = "LiveViewInstance" }
Inst.__index = function(self, k)
  local m = Methods[k]
  if m ~= nil then return m end
  if k == "connected" then return host.connected(self._id) end
  return self._def[k]
end

local Streams = {} -- assigns.streams: name -> StreamOps (made on first use)
Streams.__index = function(t, name)
  local ops = setmetatable({ items = {}, at = {}, deletes = {}, reset = false }, StreamOps)
  t[name] = ops
  return ops
end

--- (host) a new instance of definition `id`; returns its instance id
function M._new(id, iid)
  local def = defs[id]
  local inst = setmetatable({ assigns = {}, _def = def, _id = iid, _changed = false, _src = false }, Inst)
  insts[iid] = inst
  return iid
end

--- (host) forget instances (the Python objects were collected or terminated)
function M._free(...)
  for i = 1, select("#", ...) do insts[select(i, ...)] = nil end
end

local function mark(self, name)
  local ch = self._changed
  if ch then ch[name] = true end
end

local function same(a, b)
  if a ~= b then return false end
  local t = type(a)
  if t == "number" then return mtype(a) == mtype(b) end
  return t == "string" or t == "boolean"
end

--- self:assign{ name = value, ... } or self:assign("name", value) (which can assign nil):
--- records the changed names (equal strings, numbers and booleans are no change)
function Methods.assign(self, a, b)
  local assigns = self.assigns
  if type(a) == "string" then
    if not same(assigns[a], b) then assigns[a] = b; mark(self, a) end
    return self
  end
  if type(a) ~= "table" then error("assign: expected a table of name = value (or a name and a value)", 2) end
  for k, v in pairs(a) do
    if type(k) ~= "string" then error("assign: names are strings, not " .. type(k), 2) end
    if not same(assigns[k], v) then assigns[k] = v; mark(self, k) end
  end
  return self
end

--- self:update(name, fn): assign(name, fn(assigns[name]))
function Methods.update(self, name, fn)
  return Methods.assign(self, name, fn(self.assigns[name]))
end

local function streams(self)
  local s = self.assigns.streams
  if getmetatable(s) ~= Streams then
    s = setmetatable({}, Streams)
    self.assigns.streams = s
  end
  return s
end

local function clear_ops(ops)
  ops.items, ops.at, ops.deletes, ops.reset = {}, {}, {}, false
end

--- self:stream(name, items [, { at = -1 | 0, reset = bool }]): render items once in
--- {% for item in streams.NAME key item.id %}; the server does not keep them
function Methods.stream(self, name, items, opts)
  local ops = streams(self)[name]
  local at = opts and opts.at or -1
  if opts and opts.reset then clear_ops(ops); ops.reset = true end
  for _, item in ipairs(items or {}) do
    ops.items[#ops.items + 1] = item
    ops.at[#ops.at + 1] = at
  end
  mark(self, "streams")
  return self
end

--- self:stream_insert(name, item [, { at = -1 | 0 }]): insert, or replace in place (same key)
function Methods.stream_insert(self, name, item, opts)
  local ops = streams(self)[name]
  ops.items[#ops.items + 1] = item
  ops.at[#ops.at + 1] = opts and opts.at or -1
  mark(self, "streams")
  return self
end

--- self:stream_delete(name, key): remove the entry with that key on the client
function Methods.stream_delete(self, name, key)
  local ops = streams(self)[name]
  ops.deletes[#ops.deletes + 1] = key
  mark(self, "streams")
  return self
end

-- services of the Python session (LiveView's methods of the same names)
local function handled(p)
  if getmetatable(p) == loop.Promise then p:next(nil, function() end) end -- awaiting it still sees errors
  return p
end

function Methods.subscribe(self, topic) return host.service(self._id, "subscribe", topic) end
function Methods.unsubscribe(self, topic) return host.service(self._id, "unsubscribe", topic) end
function Methods.send_info(self, msg, after_ms) return host.service(self._id, "send_info", msg, after_ms or 0) end
function Methods.push_patch(self, to) return host.service(self._id, "push_patch", to) end
function Methods.push_redirect(self, to) return host.service(self._id, "push_redirect", to) end
--- self:broadcast(topic, msg) -> a promise (await it to know it was delivered)
function Methods.broadcast(self, topic, msg) return handled(host.broadcast(self._id, topic, msg)) end
--- self:validate(data [, schema]) -> errors (field -> message), also assigned as `errors`
function Methods.validate(self, data, schema)
  local errors = host.validate(data, schema or self._def.schema or {})
  Methods.assign(self, "errors", errors)
  return errors
end

local function current(what)
  local inst = running[co_running()]
  if inst == nil then error("live." .. what .. ": call it from a view's hook (mount, handle_event, ...)", 3) end
  return inst
end

--- live.subscribe(topic) / live.unsubscribe(topic): for the view whose hook is running
function M.subscribe(topic) return Methods.subscribe(current("subscribe"), topic) end
function M.unsubscribe(topic) return Methods.unsubscribe(current("unsubscribe"), topic) end
--- live.broadcast(topic, msg) -> a promise: to every view subscribed to topic
function M.broadcast(topic, msg)
  local inst = running[co_running()]
  return handled(host.broadcast(inst and inst._id or 0, topic, msg))
end

--------------------------------------------------------------------- hooks
-- "TypeName: [CODE] message" (a typed Python error raised inside Lua) -> CODE, message
local function classify(err)
  if err == "not enough memory" then return "LUA_MEMORY_ERROR", "the Lua heap limit was exceeded" end
  local text = type(err) == "string" and err or tostring(err)
  local code, msg = match(text, "^[%w_%.]+: %[([%u%d_]+)%] (.*)$")
  if code then return code, msg end
  code, msg = match(text, "^%[([%u%d_]+)%] (.*)$")
  if code then return code, msg end
  return "LUA_RUNTIME_ERROR", text
end

local function on_trace(e)
  if e == "not enough memory" then return { e = e } end
  local ok, tb = xpcall(traceback, function() end, type(e) == "string" and e or tostring(e), 2)
  return { e = e, tb = ok and tb or nil }
end

local function run_hook(inst, hook, a, b, rec)
  local fn = inst._def[hook]
  if fn == nil then
    if hook == "update" then Methods.assign(inst, a) end -- a component's default update
    rec.ok = true
    return
  end
  local co = co_running()
  running[co] = inst
  local ok, r = xpcall(fn, on_trace, inst, a, b)
  running[co] = nil
  if ok then
    rec.ok, rec.value = true, r
  else
    local code, msg = classify(r.e)
    if code == "TIMEOUT" or code == "INTERRUPTED" then host.rearm() end -- let the next entry run
    rec.ok, rec.code, rec.message, rec.tb = false, code, msg, r.tb or false
  end
end

local function result(rec)
  if rec.ok then
    local v = rec.value
    local t = type(v)
    if t == "function" or t == "thread" or t == "userdata" or (t == "table" and getmetatable(v) ~= nil) then
      v = nil -- only plain data goes back
    end
    return { true, v == nil and false or v }
  end
  return { false, rec.code, rec.message, rec.tb }
end

--- (host) run hook `hook` of instance iid as an async function: {true, value} or
--- {false, code, message, traceback}, or a promise of that when the hook awaits
--- With `sync`, a hook that awaits goes on in the background: {true, false} now.
function M._call(iid, hook, a, b, sync)
  local inst = insts[iid]
  if inst == nil then return { false, "LIVE_GONE", "the view instance was freed", false } end
  local rec = {}
  local p = spawn(run_hook, inst, hook, a, b, rec)
  if p == nil then return result(rec) end
  if sync then
    p:next(function()
      if not rec.ok then host.log_error(hook .. ": " .. tostring(rec.message), rec.tb or "") end
    end)
    return { true, false }
  end
  return p:next(function() return result(rec) end, function(e)
    local code, msg = classify(e)
    return { false, code, msg, false }
  end)
end

--- (host) the instance's assigns changed since its last render (or it never rendered)
function M._dirty(iid)
  local ch = insts[iid]._changed
  return ch == false or next(ch) ~= nil
end

--- (host) the JSON-serialisable assigns (streams and values JSON cannot hold left out)
function M._snapshot(iid)
  local out = {}
  for k, v in pairs(insts[iid].assigns) do
    if k ~= "streams" and type(k) == "string" then
      local ok, text = xpcall(json.encode, function(e) return e end, v)
      if ok then out[#out + 1] = json.encode(k) .. ":" .. text end
    end
  end
  return "{" .. concat(out, ",") .. "}"
end

--- (host) assign the snapshot's values (a re-mount restoring the page)
function M._restore(iid, snapshot)
  return Methods.assign(insts[iid], snapshot)
end

--------------------------------------------------------------------- rendering
local HTML = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&#34;", ["'"] = "&#39;" }
local JESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
for i = 0, 31 do
  local ch = string.char(i)
  if not JESC[ch] then JESC[ch] = format("\\u%04x", i) end
end
JESC["\127"] = "\\u007f"

--- a number as Python's str() gives it: integers as they are; floats with a ".0" when
--- integral, else the shortest of %.15g/%.16g/%.17g that reads back the same ("inf", "nan")
local function numstr(v)
  if mtype(v) == "integer" then return tostring(v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if v == math.floor(v) and v > -1e16 and v < 1e16 then return format("%.1f", v) end
  local s = format("%.15g", v)
  if tonumber(s) ~= v then s = format("%.16g", v) end
  if tonumber(s) ~= v then s = format("%.17g", v) end
  return s
end
M.numstr = numstr

local render_deferred, render_component

--- append dynamic value v as JSON (an escaped string, a nested render, a component id)
local function D(b, n, v, rawflag)
  local t = type(v)
  if t == "string" then
    if not rawflag and find(v, "[&<>\"']") then v = gsub(v, "[&<>\"']", HTML) end
    if find(v, "[%c\"\\]") then v = gsub(v, "[%c\"\\]", JESC) end
    b[n + 1], b[n + 2], b[n + 3] = '"', v, '"'
    return n + 3
  elseif t == "number" then
    b[n + 1] = '"' .. numstr(v) .. '"'
    return n + 1
  elseif v == nil or v == false then
    b[n + 1] = '""'
    return n + 1
  elseif v == true then
    b[n + 1] = '"true"'
    return n + 1
  end
  local mt = getmetatable(v)
  if mt == Deferred then return render_deferred(b, n, v) end
  if mt == ComponentCall then
    b[n + 1] = tostring(render_component(v))
    return n + 1
  end
  if mt == Raw then return D(b, n, v.s, true) end
  if mt ~= nil and mt.__tostring then return D(b, n, tostring(v), rawflag) end
  error("cannot render a " .. t .. " in {{ }} (give a string, a number, a boolean or nil)", 2)
end

--- a loop key as JSON (strings and numbers; nil -> the index)
local function K(v, i)
  local t = type(v)
  if t == "number" then return mtype(v) == "integer" and tostring(v) or numstr(v) end
  if t == "string" then
    if find(v, "[%c\"\\]") then v = gsub(v, "[%c\"\\]", JESC) end
    return '"' .. v .. '"'
  end
  if v == nil then return tostring(i - 1) end
  if t == "boolean" then return tostring(v) end
  error("a loop key must be a string or a number, not a " .. t, 2)
end

local function stream_json(ops, keys)
  local at, del = {}, {}
  for i, a in ipairs(ops.at) do at[i] = tostring(tointeger(a) or -1) end
  for i, k in ipairs(ops.deletes) do del[i] = K(k, i) end
  return ',"st":{"keys":[' .. concat(keys, ",") .. '],"at":[' .. concat(at, ",") .. '],"del":['
    .. concat(del, ",") .. '],"reset":' .. tostring(ops.reset) .. "}"
end

local RT = { D = D, K = K, StreamOps = StreamOps, stream_json = stream_json, ipairs = ipairs,
  getmetatable = getmetatable, tostring = tostring, concat = concat, error = error }

local compiled = {}  -- template source -> render function
local linemaps = {}  -- chunk name -> { generated line -> template line }
local chunk_count = 0

local TemplateErr = { __name = "TemplateError" }
TemplateErr.__tostring = function(e) return "[" .. e.code .. "] " .. e.message end

local function compile(src)
  local fn = compiled[src]
  if fn then return fn end
  local code, map, exprs = host.compile(src)
  if code == nil then -- a TemplateError of the compiler: map = code, exprs = message, line
    error(setmetatable({ code = map, message = exprs.message, line = exprs.line }, TemplateErr), 0)
  end
  for i = 1, #exprs, 2 do
    local ok, err = load("return (" .. exprs[i] .. "\n)", "=expression", "t", {})
    if not ok then
      local line = exprs[i + 1]
      error(setmetatable({ code = "TEMPLATE_SYNTAX", line = line, message = "template line " .. line
        .. ": {{ " .. exprs[i] .. " }} is not a Lua expression: " .. tostring(err):gsub("^expression:%d+: ", "") },
        TemplateErr), 0)
    end
  end
  chunk_count = chunk_count + 1
  local name = "=live template " .. chunk_count
  local chunk, err = load(code, name, "t", {})
  if not chunk then
    error(setmetatable({ code = "TEMPLATE_SYNTAX", line = 0, message = "template does not compile: "
      .. tostring(err) }, TemplateErr), 0)
  end
  fn = chunk(RT)
  compiled[src] = fn
  linemaps[name] = map
  return fn
end

local function env_of(args, mt)
  local e = {}
  for k, v in pairs(args) do e[k] = v end
  return setmetatable(e, mt)
end

render_deferred = function(b, n, v)
  local fc = v.fc
  local fn = fc.fn
  if fn == nil then
    fn = compile(fc.template)
    fc.fn = fn
  end
  return fn(b, n, env_of(v.args, FN_BASE), nil)
end

render_component = function(call)
  local cid = host.component(def_id(call.def), call.id, call.assigns)
  if cid == nil then error("live_component() is only available inside a live view", 3) end
  return cid
end

local function render_trace(e)
  if e == "not enough memory" then return { e = e } end
  local line
  for level = 2, 200 do
    local info = getinfo(level, "Sl")
    if info == nil then break end
    local map = linemaps[info.source]
    if map then line = map[info.currentline]; break end
  end
  local ok, tb = xpcall(traceback, function() end, type(e) == "string" and e or tostring(e), 2)
  return { e = e, line = line, tb = ok and tb or nil }
end

local function source_of(inst)
  local def = inst._def
  if def.render then
    local src = def.render(inst)
    if type(src) ~= "string" then error("render(self) must return a template string, got " .. type(src), 0) end
    return src
  end
  return def.template
end

local function do_render(inst, full)
  local src = source_of(inst)
  local fn = compile(src)
  local changed_src = src ~= inst._src
  local ch = inst._changed
  if full or changed_src or ch == false then ch = nil end
  local env = env_of(inst.assigns, base_mt(inst._def))
  if inst.myself ~= nil then env.myself = inst.myself end
  local b = {}
  local n = fn(b, 0, env, ch)
  return concat(b, "", 1, n), changed_src and src or false, src
end

--- (host) render instance iid: true, JSON text, template source (when it changed since
--- the last render, else false); or false, code, message, template line, traceback
function M._render(iid, full, myself)
  local inst = insts[iid]
  if myself ~= nil then inst.myself = myself end
  local ok, text, new_src, src = xpcall(do_render, render_trace, inst, full)
  if not ok then
    local e = text.e
    if getmetatable(e) == TemplateErr then return false, e.code, e.message, e.line or false, false end
    local code, msg = classify(e)
    if code == "TIMEOUT" or code == "INTERRUPTED" then host.rearm() end
    return false, code, msg, text.line or false, text.tb or false
  end
  inst._src = src
  inst._changed = {}
  local s = inst.assigns.streams
  if getmetatable(s) == Streams then for _, ops in pairs(s) do clear_ops(ops) end end
  return true, text, new_src
end

--- (host) the template source of instance iid (render(self) or the definition's template)
function M._source(iid)
  return source_of(insts[iid])
end

host.bind({
  register = M._register, meta = M._meta, new = M._new, free = M._free, call = M._call, dirty = M._dirty,
  snapshot = M._snapshot, restore = M._restore, render = M._render, source = M._source,
})
return M
