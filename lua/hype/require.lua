-- hype's require: Node's module resolution for Lua (installed by hypelua.modules.install_require).
--
-- Resolution (cold path) is one call into Python per (requiring file, name);
-- every cache lives here, so a cached require never leaves Lua.
--   * each module file gets its own `require` bound to its path (Node's
--     module-local require): the loader prefixes the source with
--     `local require=select(3,...);` on line 1, so line numbers are unchanged;
--   * other chunks (the main file, rt.execute strings) use the global `require`,
--     which finds the requiring file with debug.getinfo;
--   * package.loaded / package.preload keep working for plain Lua libraries;
--   * a cycle returns the partially initialised module: package.loaded[name] if
--     the module set it early (the Lua idiom), else a placeholder table that is
--     filled with the module's fields (and metatable) once it has loaded.
local resolve, fail, find_package = ...
local getinfo, load, type, error, setmetatable, getmetatable, next, rawset, byte, sub =
  debug.getinfo, load, type, error, setmetatable, getmetatable, next, rawset, string.byte, string.sub
local package = package
local loaded, preload = package.loaded, package.preload
local searchpath, lua_require = package.searchpath, require
local env = nil          -- _ENV of module chunks (nil: the global table)
local sandboxed = false  -- Runtime(sandbox=True): no C modules, no package.path templates

local modules = {}   -- absolute path -> module value
local loading = {}   -- absolute path -> {name, prev, placeholder, handed}
local ours = {}      -- names whose package.loaded entry this loader set
local by_chunk = {}  -- chunk source -> {name -> module}  (global require)

local make_require
-- per-process module bindings (hype.actor's code server, lua/hype/actor/code.lua): nil
-- until actor.load or spawn{ deps = ... } is first used, so require costs one upvalue test
local bound = nil

local function closer(path)
  return setmetatable({}, { __close = function() loading[path] = nil end })
end

local function slow(name, caller, cache)
  if type(name) ~= "string" then
    error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 3)
  end
  local c1 = byte(name, 1)
  local relative = c1 == 46 or c1 == 47 -- "." or "/"
  if not relative then
    local v = loaded[name]
    if v ~= nil and not ours[name] then cache[name] = v; return v end
    local p = preload[name]
    if p ~= nil then
      local r = p(name, ":preload:")
      if r ~= nil then loaded[name] = r elseif loaded[name] == nil then loaded[name] = true end
      r = loaded[name]
      cache[name] = r
      return r
    end
  end
  local path, source = resolve(name, caller, not sandboxed and package.path or nil)
  if path == nil then
    if not relative and not sandboxed and searchpath(name, package.cpath) then -- a C module: Lua's own loader
      local v = lua_require(name)
      cache[name] = v
      return v
    end
    fail()
  end
  local m = modules[path]
  if m ~= nil then cache[name] = m; return m end
  local rec = loading[path]
  if rec ~= nil then -- a cycle: the partially initialised module
    local v = loaded[rec.name]
    if v ~= nil and v ~= rec.prev then return v end
    rec.handed = true
    return rec.placeholder
  end
  local fn, err
  if env ~= nil then fn, err = load(source, "@" .. path, "t", env) else fn, err = load(source, "@" .. path, "t") end
  if fn == nil then error(err, 0) end
  local prev = loaded[name]
  rec = { name = name, prev = prev, placeholder = {}, handed = false }
  loading[path] = rec
  local guard <close> = closer(path)
  local v = fn(name, path, make_require(path))
  if v == nil then
    local l = loaded[name]
    if l ~= nil and l ~= prev then v = l else v = true end
  end
  if relative then
    loaded[name] = prev
  elseif prev == nil then
    loaded[name] = v
    ours[name] = true
  else
    loaded[name] = prev -- keep the first module of that name (nested versions)
  end
  if rec.handed and type(v) == "table" and v ~= rec.placeholder then
    local ph = rec.placeholder
    for k, x in next, v do rawset(ph, k, x) end
    local mt = getmetatable(v)
    if type(mt) == "table" then setmetatable(ph, mt) end
  end
  modules[path] = v
  cache[name] = v
  return v
end

function make_require(path)
  local cache = {}
  return function(name)
    if bound ~= nil then
      local b = bound(name)
      if b ~= nil then return b end
    end
    local m = cache[name]
    if m ~= nil then return m end
    return slow(name, path, cache)
  end
end

local main_file = nil -- the file run by Runtime.execute_file (for tail calls)

function require(name) -- luacheck: ignore (the global require)
  if bound ~= nil then
    local b = bound(name)
    if b ~= nil then return b end
  end
  local info = getinfo(2, "S")
  local src = info and info.source or "=[C]" -- no frame: a tail call at a coroutine's top level
  -- a tail call from the main chunk leaves the caller's caller: a C function, or
  -- the event loop running the main chunk as a coroutine (hype/loop.lua)
  if src == "=[C]" or sub(src, 1, 6) == "@hype/" then src = "=[C]" .. (main_file or "") end
  local cache = by_chunk[src]
  if cache == nil then cache = {}; by_chunk[src] = cache end
  local m = cache[name]
  if m ~= nil then return m end
  local caller = nil
  if byte(src, 1) == 64 then
    caller = sub(src, 2)
  elseif sub(src, 1, 4) == "=[C]" then -- `return require(x)` at a chunk's top level: the caller's frame is gone
    caller = main_file
  end
  return slow(name, caller, cache)
end

package.hype = {
  modules = modules, make_require = make_require,
  -- for hype.actor's code server: resolve(request, caller) -> path, source (the module-local
  -- require prefix included); find_package(name, range) -> dir, version | nil, nil, why;
  -- set_bound(fn): fn(name) -> module | nil is asked first by every require
  resolve = resolve, find_package = find_package,
  set_bound = function(fn) bound = fn end,
  get_env = function() return env end,   -- _ENV of module chunks (the sandbox's), nil: the globals
}
-- configure{ loaded =, preload =, env =, sandbox = } (Runtime(sandbox=True)): modules
-- are looked up in and registered into the sandbox's package tables and loaded
-- with the sandbox environment
local function configure(opts)
  loaded, preload, env, sandboxed = opts.loaded, opts.preload, opts.env, opts.sandbox and true or false
end
return function(path) main_file = path end, configure
