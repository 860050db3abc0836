-- hype.actor.code: Erlang's code server for hype.actor (issue 11, item 6): several versions
-- of a module live at once, each process keeps the versions it was spawned with.
--
--   local v = actor.load("counter", "./counter.lua")   -- or Lua source text; -> 1, 2, ...
--   actor.require("counter")          -- in a process: the version bound at its spawn;
--                                     -- elsewhere (main chunk, handlers): the newest
--   actor.versions("counter")         -- { { version = 1, processes = 3, current = false }, ... }
--   actor.upgrade(pid[, extra[, timeout_ms]])   -- a server to the newest version (code_change)
--   actor.spawn{ fn = f, deps = { json = "^1", counter = 2 } }   -- pinned versions
--
-- Bindings.  A process record gets at most ONE extra field, `mods`, and only once
-- actor.load or deps were used:
--   nil      the process uses the newest version of every module (so far: nothing was
--            loaded since it was spawned);
--   g        (a number) the load generation current at its spawn: actor.load pins every
--            scheduler process still at nil to the generation before the new version
--            (one pass over the live processes per load), so it keeps what it had;
--   table    { gen = g, [name] = version | package, ["$server"] = name }: explicit bindings
--            (spawn{ deps = ... }, a server started from a loaded module, an upgrade).
-- A version of `name` "as of generation g" is the highest version loaded at or before g
-- (the oldest kept one if `name` was first loaded later).  A module's chunk runs once per
-- version, lazily (at its first require), and its value is cached with the version.
--
-- Plain `require(name)` answers the same as actor.require for names that have loaded
-- versions or deps bindings: hype's require (lua/hype/require.lua) asks a `bound`
-- function first once this module installs one (before that it costs one upvalue test).
--
-- Servers: a loaded module that returns an actor.server{...} module, or a table with a
-- `server` field holding one, gets that server module tagged `vsn = <version>` and
-- `module = <name>`; a server started from it is bound to that version (through the
-- spawn option `server = mod` that actor.server's start passes) and actor.upgrade moves
-- it with actor.upgrade_server, i.e. new.code_change(old_vsn, state, extra).
local actor = require("hype.actor")
local Server = require("hype.actor.server").Server

local M = {}
local internal = actor._internal
local procs, running, lookup = internal.procs, internal.running, internal.lookup
local typed = actor._typed
local hype = package.hype   -- hype's require (nil: a plain Lua require; no files, no deps)
local type, pairs, tostring, tonumber, getmetatable, error, load = type, pairs, tostring, tonumber, getmetatable, error, load

local db = {}        -- name -> { vers = { [v] = rec }, newest = v, next = v + 1 }
local dep_names = {} -- names some process bound to an installed package (spawn{ deps })
local gen = 0        -- load generation: +1 per actor.load
local tags = setmetatable({}, { __mode = "k" })   -- server module -> { name, version }

local function fail(code, message, hint) error(typed(code, message, hint), 3) end

local function at_gen(d, g)
  local best, oldest
  for v, rec in pairs(d.vers) do
    if rec.gen <= g and (best == nil or v > best) then best = v end
    if oldest == nil or v < oldest then oldest = v end
  end
  return best or oldest
end

local function server_of(v)
  if type(v) ~= "table" then return nil end
  if getmetatable(v) == Server then return v end
  local s = rawget(v, "server")
  if getmetatable(s) == Server then return s end
  return nil
end

-- the module value of version `rec` of `name` (its chunk runs on first use)
local function value(name, rec)
  if rec.done then return rec.value end
  if rec.running then fail("ACTOR_BAD_MODULE", name .. " v" .. rec.version .. " requires itself while loading") end
  rec.running = true
  local ok, v
  if rec.path then
    ok, v = pcall(rec.fn, name, rec.path, hype.make_require(rec.path))
  else
    ok, v = pcall(rec.fn, name)
  end
  rec.running = nil
  if not ok then
    error(typed("ACTOR_BAD_MODULE", name .. " v" .. rec.version .. " failed to load: " .. tostring(v),
      "The chunk runs at the first require of this version; fix it and actor.load a new one."), 0)
  end
  if v == nil then v = true end
  local srv = server_of(v)
  if srv then
    srv.vsn, srv.module = rec.version, name
    tags[srv] = { name, rec.version }
  end
  rec.value, rec.done, rec.fn = v, true, nil
  return v
end

local function package_value(b)
  return require(b.dir)   -- loaded once per directory (hype's require caches by path)
end

-- the version number (or package binding) of `name` that process record `p` uses
local function binding(p, name)
  local d = db[name]
  local m = p and p.mods
  if type(m) == "table" then
    local b = m[name]
    if b ~= nil then return b end
    if d == nil then return nil end
    return at_gen(d, m.gen)
  end
  if d == nil then return nil end
  if m == nil then return d.newest end
  return at_gen(d, m)
end

local function module_for(p, name)
  local b = binding(p, name)
  if b == nil then return nil end
  if type(b) == "table" then return package_value(b) end
  local rec = db[name].vers[b]
  if rec == nil then return nil end
  return value(name, rec)
end

-- asked first by every require once installed: nil for names without versions or deps
local function bound(name)
  if db[name] == nil and dep_names[name] == nil then return nil end
  return module_for(running(), name)
end
local installed = false
local function install()
  if installed or hype == nil or hype.set_bound == nil then return end
  installed = true
  hype.set_bound(bound)
end

local function counts(name)
  local d = db[name]
  local c = {}
  for v in pairs(d.vers) do c[v] = 0 end
  for _, p in pairs(procs) do
    if p.sched and p.status ~= "exited" then
      local b = binding(p, name)
      if type(b) == "number" and c[b] then c[b] = c[b] + 1 end
    end
  end
  return c
end

-- drop the versions of `name` that are neither the newest nor used by a live process
local function purge(name)
  local d = db[name]
  for v, n in pairs(counts(name)) do
    if n == 0 and v ~= d.newest then d.vers[v] = nil end
  end
end

--- actor.load(name, source | path) -> version: compiles a new version of module `name`
--- (Lua source text, or a path to a .lua file resolved like require from the project
--- directory); ACTOR_BAD_MODULE on a syntax error (the previous versions stay).
function M.load(name, src)
  if type(name) ~= "string" or name == "" then fail("ACTOR_BAD_MODULE", "actor.load's name is a non-empty string") end
  if type(src) ~= "string" then fail("ACTOR_BAD_MODULE", "actor.load takes Lua source text or a path to a .lua file") end
  if hype == nil then fail("ACTOR_BAD_MODULE", "actor.load needs hype's require (lua/hype/require.lua)") end
  local chunkname, path, source
  if not src:find("\n", 1, true) and src:sub(-4) == ".lua" then
    local req = src
    local c = req:sub(1, 1)
    if c ~= "." and c ~= "/" then req = "./" .. req end
    local ok, p, s = pcall(hype.resolve, req, nil, nil)
    if not ok or p == nil then
      fail("ACTOR_BAD_MODULE", "actor.load(" .. name .. "): no module file " .. src ..
        (ok and "" or (": " .. tostring(p))), "Paths are relative to the project directory.")
    end
    path, source, chunkname = p, s, "@" .. p
  else
    source, chunkname = src, "=" .. name .. "@" .. ((db[name] and db[name].next) or 1)
  end
  local env = hype.get_env and hype.get_env()
  local fn, err
  if env ~= nil then fn, err = load(source, chunkname, "t", env) else fn, err = load(source, chunkname, "t") end
  if fn == nil then
    fail("ACTOR_BAD_MODULE", "actor.load(" .. name .. "): " .. tostring(err), "The previous version stays current.")
  end
  -- processes spawned since the last load keep what was current at their spawn
  for _, p in pairs(procs) do
    if p.sched and p.mods == nil then p.mods = gen end
  end
  gen = gen + 1
  local d = db[name]
  if d == nil then d = { vers = {}, next = 1 }; db[name] = d end
  local v = d.next
  d.next = v + 1
  d.vers[v] = { version = v, gen = gen, fn = fn, path = path }
  d.newest = v
  purge(name)
  install()
  return v
end

--- actor.versions(name) -> { { version = v, processes = n, current = bool }, ... } (oldest
--- first; processes: live spawned processes bound to it); {} for an unknown name
function M.versions(name)
  local d = db[name]
  local out = {}
  if d == nil then return out end
  for v, n in pairs(counts(name)) do out[#out + 1] = { version = v, processes = n, current = v == d.newest } end
  table.sort(out, function(a, b) return a.version < b.version end)
  return out
end

local project_require = nil
--- actor.require(name) -> the module: the version this process is bound to (the newest
--- outside processes); a name without loaded versions or bindings: hype's require from
--- the project directory
function M.require(name)
  local m = module_for(running(), name)
  if m ~= nil then return m end
  if hype == nil then return require(name) end
  project_require = project_require or hype.make_require(nil)
  return project_require(name)
end

-- spawn{ deps = { name = range | version }, ... } and servers started from loaded modules
local function bind_deps(deps)
  if type(deps) ~= "table" then fail("ACTOR_BAD_DEPS", "spawn's deps is a table { name = range, ... }") end
  local out = {}
  for name, want in pairs(deps) do
    if type(name) ~= "string" then fail("ACTOR_BAD_DEPS", "deps keys are module names (strings)") end
    local d = db[name]
    if d ~= nil then   -- a module loaded with actor.load: a version number or "latest"
      local v = want == "latest" and d.newest or tonumber(want)
      if v == nil or d.vers[v] == nil then
        fail("ACTOR_BAD_DEPS", "deps: " .. name .. " has no loaded version " .. tostring(want),
          "Use a version listed by actor.versions(\"" .. name .. "\") or \"latest\".")
      end
      out[name] = v
    else               -- an installed package: the highest version satisfying the range
      if type(want) ~= "string" then
        fail("ACTOR_BAD_DEPS", "deps: " .. name .. "'s range is a string like \"^1.2\" (got " .. type(want) .. ")")
      end
      if hype == nil or hype.find_package == nil then
        fail("ACTOR_BAD_DEPS", "deps: " .. name .. " " .. want .. ": installed packages need hype's require")
      end
      local dir, version, why = hype.find_package(name, want)
      if dir == nil then
        fail("ACTOR_BAD_DEPS", "deps: " .. name .. " " .. want .. ": " .. tostring(why),
          "Install a matching version (hype add " .. name .. "@\"" .. want .. "\") or widen the range.")
      end
      out[name] = { dir = dir, version = version }
      dep_names[name] = true
    end
  end
  return out
end

-- a process record that failed its spawn options: gone without a trace (no exit signals)
local function discard(p)
  for id in pairs(p.links or {}) do
    local q = procs[id]
    if q and q.links then q.links[p.pid.id] = nil end
  end
  for ref, w in pairs(p.monitored_by or {}) do
    if type(w) == "table" and w.monitors then w.monitors[ref] = nil end
  end
  p.links, p.monitored_by = nil, nil
  procs[p.pid.id] = nil
  p.status = "exited"
end

local function spawn_hook(p, opts)
  local deps, srv = opts.deps, opts.server
  local tag = srv ~= nil and tags[srv] or nil
  if deps == nil and tag == nil then return end
  local m = { gen = gen }
  if deps ~= nil then
    local ok, b = pcall(bind_deps, deps)
    if not ok then discard(p); error(b, 0) end
    for k, v in pairs(b) do m[k] = v end
    install()
  end
  if tag then m[tag[1]] = tag[2]; m["$server"] = tag[1] end
  p.mods = m
end
local hooks = actor._spawn_hooks
hooks[#hooks + 1] = spawn_hook

--- actor.upgrade(pid | name[, extra[, timeout_ms]]) -> true | false, err: moves a server
--- started from a module loaded with actor.load to that module's newest version through
--- its code_change(old_vsn, state, extra); the process is then bound to that version.
--- err: ACTOR_NO_PROCESS, ACTOR_NOT_UPGRADABLE (not such a server, or the newest version
--- has no server), ACTOR_UPGRADE_FAILED (code_change raised: the old version and state stay).
function M.upgrade(dest, extra, timeout)
  local p = lookup(dest)
  if p == nil then return false, typed("ACTOR_NO_PROCESS", "upgrade: no such process " .. tostring(dest)) end
  local m = p.mods
  local name = type(m) == "table" and m["$server"] or nil
  if name == nil then
    return false, typed("ACTOR_NOT_UPGRADABLE", "upgrade: " .. tostring(p.pid) .. " is not a server started from a module loaded with actor.load",
      "Start it with actor.require(name):start() (the module returns actor.server{...} or { server = ... }).")
  end
  local d = db[name]
  local newest = d.newest
  if m[name] == newest then return true end
  local ok, spec = pcall(value, name, d.vers[newest])
  if not ok then return false, spec end
  local srv = server_of(spec)
  if srv == nil then
    return false, typed("ACTOR_NOT_UPGRADABLE", "upgrade: " .. name .. " v" .. newest .. " returns no actor.server module")
  end
  local called, res, err = pcall(actor.upgrade_server, p.pid, srv, extra, timeout)
  if not called then
    if type(res) == "table" and res.code then return false, res end
    return false, typed("ACTOR_UPGRADE_FAILED", "upgrade: " .. tostring(res))
  end
  if not res then
    return false, typed("ACTOR_UPGRADE_FAILED", "upgrade of " .. tostring(p.pid) .. " to " .. name .. " v" .. newest
      .. ": code_change failed: " .. tostring(err), "The server keeps its old version and state.")
  end
  local nm = { gen = m.gen }
  for k, v in pairs(m) do nm[k] = v end
  nm[name] = newest
  p.mods = nm
  return true
end

return M
