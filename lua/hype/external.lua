-- hype.external: external tables (persistent key -> value maps visible as globals).
--
-- Loaded once per Runtime with the host callbacks as `...`:
--   host.get(table, key)        -> tagged value (functions as {[FN] = descriptor})
--   host.set(table, key, value)    value tagged the same way (nil deletes)
--   host.keys(table)            -> list of keys
--   host.count(table)           -> number of rows
--   host.fail(code, message)       raises a typed hypelua error (never returns)
--
-- A function is stored as a descriptor: string.dump bytecode (authenticated by the
-- host with an HMAC before it is ever given back to load(..., "b")), its source
-- position (the host recovers the text), its upvalues (plain values re-bound with
-- debug.setupvalue, _ENV re-bound to the runtime's globals, a recursive reference
-- to itself), or, for a C function, its registry name ("math.sin").
-- Revived functions are cached per key, so Memory.f(x) in a loop is a plain call.

local host = ...
local G = _G
local type, next, pairs, ipairs, rawget, setmetatable, select, tostring, pcall =
  type, next, pairs, ipairs, rawget, setmetatable, select, tostring, pcall
local load, dump, concat, unpack = load, string.dump, table.concat, table.unpack
local getinfo, getupvalue, setupvalue = debug.getinfo, debug.getupvalue, debug.setupvalue
local host_get, host_set, host_keys, host_count, fail = host.get, host.set, host.keys, host.count, host.fail

local FN = "\0hype.function"
-- Descriptors the host hands to Lua carry a per-runtime secret tag instead of FN:
-- plain data stored by Python/JS or imported from a file that happens to use the
-- key "\0hype.function" stays plain data and is never loaded as a function.
local FN_IN = host.fn_tag or FN

-- C functions by registry name -------------------------------------------------
local cnames, cfuncs = {}, {}
for _, lib in ipairs({ "_G", "string", "table", "math", "utf8", "coroutine", "os", "io", "debug" }) do
  local t = (lib == "_G") and G or rawget(G, lib)
  if type(t) == "table" then
    for k, v in pairs(t) do
      if type(k) == "string" and type(v) == "function" and getinfo(v, "S").what == "C" and not cnames[v] then
        local name = (lib == "_G") and k or (lib .. "." .. k)
        cnames[v] = name
        cfuncs[name] = v
      end
    end
  end
end

-- encoding (Lua value -> tagged plain data) -----------------------------------
local encode

local function encode_function(f, seen)
  local cname = cnames[f]
  if cname then return { [FN] = { cfunction = cname } } end
  local info = getinfo(f, "Su")
  if info.what == "C" then
    fail("NOT_STORABLE", "a C function that is not part of the standard library cannot be stored")
  end
  if seen[f] then
    fail("NOT_STORABLE", "functions that refer to each other in a cycle cannot be stored")
  end
  seen[f] = true
  local ups = {}
  for i = 1, info.nups do
    local name, value = getupvalue(f, i)
    name = name or ("?" .. i)
    if name == "_ENV" and value == G then
      ups[i] = { name = name, env = true }
    elseif value == f then
      ups[i] = { name = name, self = true }
    else
      ups[i] = { name = name, value = encode(value, seen) }
    end
  end
  seen[f] = nil
  local ok, bytecode = pcall(dump, f)
  if not ok then fail("NOT_STORABLE", "cannot dump function: " .. tostring(bytecode)) end
  return { [FN] = {
    bytecode = bytecode, upvalues = ups,
    chunk = info.source, first = info.linedefined, last = info.lastlinedefined,
  } }
end

function encode(v, seen)
  local tv = type(v)
  if tv == "nil" or tv == "boolean" or tv == "number" or tv == "string" then return v end
  if tv == "function" then return encode_function(v, seen) end
  if tv == "table" then
    if seen[v] then fail("NOT_STORABLE", "a table that contains itself (a cycle) cannot be stored") end
    seen[v] = true
    local out = {}
    for k, x in next, v do
      local tk = type(k)
      if tk ~= "string" and tk ~= "number" then
        fail("NOT_STORABLE", "table keys must be strings or numbers, not " .. tk)
      end
      if k == FN or k == FN_IN then fail("NOT_STORABLE", "the key '\\0hype.function' is reserved") end
      out[k] = encode(x, seen)
    end
    seen[v] = nil
    return out
  end
  fail("NOT_STORABLE", "a " .. tv .. " value cannot be stored in an external table")
end

-- revival (tagged plain data -> Lua value) -------------------------------------
local revive

local function is_name(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

local function revive_function(d)
  if d.cfunction then
    local f = cfuncs[d.cfunction]
    if not f then fail("NOT_STORABLE", "C function '" .. tostring(d.cfunction) .. "' is not available here") end
    return f
  end
  local ups = d.upvalues or {}
  if d.bytecode then
    -- the host verified this bytecode's HMAC before handing it over
    local f, err = load(d.bytecode, d.name, "b", G)
    if not f then fail("BYTECODE_REJECTED", "stored bytecode did not load: " .. tostring(err)) end
    for i, up in ipairs(ups) do
      if up.env then setupvalue(f, i, G)
      elseif up.self then setupvalue(f, i, f)
      else setupvalue(f, i, revive(up.value)) end
    end
    return f
  end
  -- source fallback: upvalues become locals of a wrapper chunk, in order
  local names, values, self_name = {}, {}, nil
  for _, up in ipairs(ups) do
    if up.self then self_name = up.name
    elseif not up.env and is_name(up.name) then
      names[#names + 1] = up.name
      values[#names] = revive(up.value)
    end
  end
  local code = {}
  if #names > 0 then code[#code + 1] = "local " .. concat(names, ", ") .. " = ..." end
  if is_name(self_name) then
    code[#code + 1] = "local " .. self_name .. "; " .. self_name .. " = " .. d.source
    code[#code + 1] = "return " .. self_name
  else
    code[#code + 1] = "return " .. d.source
  end
  local chunk, err = load(concat(code, "\n"), d.name, "t", G)
  if not chunk then fail("LUA_SYNTAX_ERROR", "stored source did not compile: " .. tostring(err)) end
  return (chunk(unpack(values, 1, #names)))
end

function revive(v)
  if type(v) ~= "table" then return v end
  local d = rawget(v, FN_IN)
  if d ~= nil then return revive_function(d) end
  for k, x in next, v do
    if type(x) == "table" then v[k] = revive(x) end
  end
  return v
end

-- proxies ----------------------------------------------------------------------
local proxies, caches = {}, {}

local function external(name)
  local p = proxies[name]
  if p then return p end
  local cache = {}
  p = {}
  setmetatable(p, {
    __index = function(_, k)
      local c = cache[k]
      if c ~= nil then return c end
      local v = host_get(name, k)
      if type(v) == "table" then
        local is_fn = rawget(v, FN_IN) ~= nil
        v = revive(v)
        if is_fn then cache[k] = v end
      end
      return v
    end,
    __newindex = function(_, k, v)
      -- nil and NaN cannot index a Lua table (not even the cache): refuse them typed
      if k == nil or k ~= k then
        fail("NOT_STORABLE", "an external table key cannot be " .. (k == nil and "nil" or "NaN")
          .. " (use a string or an integer)")
      end
      cache[k] = nil
      host_set(name, k, encode(v, {}))
    end,
    __pairs = function()
      local keys, i = host_keys(name), 0
      return function()
        i = i + 1
        local k = keys[i]
        if k ~= nil then return k, p[k] end
      end
    end,
    __len = function() return host_count(name) end,
    __tostring = function() return "external table: " .. name end,
    __name = "hype.external",
    __metatable = "hype.external",
  })
  proxies[name] = p
  caches[name] = cache
  return p
end

-- invalidate(name, key): one cached function; invalidate(name): a table; invalidate(): all
local function invalidate(name, key)
  if name == nil then
    for _, cache in next, caches do
      for k in next, cache do cache[k] = nil end
    end
    return
  end
  local cache = caches[name]
  if cache == nil then return end
  if key == nil then
    for k in next, cache do cache[k] = nil end
  else
    cache[key] = nil
  end
end

-- `return <expr>` compiles? (used by the host to recover function source text)
local function compiles(code)
  return load(code, "=check", "t", {}) ~= nil
end

return {
  -- set_env(t): the environment persisted functions are bound to (their _ENV
  -- upvalue is stored as "env" and re-bound to it); the sandbox's table under
  -- Runtime(sandbox=True), _G otherwise
  set_env = function(t) G = t end,
  external = external,
  invalidate = invalidate,
  encode = function(v) return encode(v, {}) end,
  revive = revive,
  compiles = compiles,
  FN = FN,
}
