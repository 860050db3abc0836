-- hype.sandbox: the allow-list environment of Runtime(sandbox=True) (SPEC section 5),
-- after Redis's Lua scripting and Luau: user code runs in a fresh table made only
-- of vetted values, never in the runtime's own _G.
--
-- Executed once, after the runtime has booted, with (W, index, set_env, configure_require):
--   W                  the watch API (Runtime.watch): pcall/xpcall/coroutine functions
--                      that let a fired TIMEOUT/INTERRUPTED through, and the hooked create/wrap
--   index              _G's __index: existing tables become globals when first named
--   set_env            external.lua: persisted functions bind their _ENV to the sandbox
--   configure_require  require.lua: the sandbox's package.loaded/preload, its _ENV, no C modules
--
-- The table becomes the global table (registry[LUA_RIDX_GLOBALS]), so every chunk
-- loaded afterwards -- by user code, require, the host's execute, revived
-- functions -- gets it as _ENV.  The runtime's own chunks keep the full _G they
-- were loaded with, reachable only through their upvalues: there is no debug
-- library (only debug.traceback), no string.dump, no binary chunks, no python
-- object, no io, no os beyond the clock, no package.loaded of unsafe libraries,
-- and getmetatable("") is a detached table (the string library itself is not reachable).
local W, index, set_env, configure_require = ...
local G = _G
local type, pairs, ipairs, error, select, tostring, setmetatable, getmetatable =
  type, pairs, ipairs, error, select, tostring, setmetatable, getmetatable
local load, collectgarbage, getregistry = load, collectgarbage, debug.getregistry

local function copy(t, except)
  local out = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then out[k] = v end
  end
  return out
end

local env = {}
for _, k in ipairs({
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen", "rawset", "select",
  "setmetatable", "getmetatable", "tonumber", "tostring", "type", "_VERSION", "print", "require",
  "Promise", "async", "await", "setTimeout", "setInterval", "clearTimeout", "clearInterval", "queueMicrotask",
}) do
  env[k] = G[k]
end
env._G = env
env.pcall, env.xpcall = W.pcall, W.xpcall
env.string = copy(string, { dump = true })
env.table = copy(table)
env.math = copy(math)
env.utf8 = copy(utf8)
env.coroutine = {
  create = W.create, resume = W.resume, wrap = W.wrap, yield = coroutine.yield, status = coroutine.status,
  running = coroutine.running, isyieldable = coroutine.isyieldable, close = coroutine.close,
}
env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
env.debug = { traceback = debug.traceback }
env.storage = copy(G.storage)
if G.Memory ~= nil then env.Memory = G.Memory end

-- load: text chunks only; a chunk may not take the name of one of the runtime's
-- own chunks (the watch hook never interrupts those)
local internal = W.internal
function env.load(chunk, name, mode, ...)
  if type(name) == "string" and internal[name] then name = "=(user) " .. name end
  if select("#", ...) > 0 then return load(chunk, name, "t", ...) end
  return load(chunk, name, "t")
end

local GC_OPTIONS = { collect = true, count = true, step = true, isrunning = true }
function env.collectgarbage(opt, ...)
  if opt == nil then opt = "collect" end
  if not GC_OPTIONS[opt] then
    error("collectgarbage('" .. tostring(opt) .. "') is not available in the sandbox", 2)
  end
  return collectgarbage(opt, ...)
end

-- package: the sandbox's own tables; built-in modules are the safe ones, preloaded
local loop = package.loaded["hype.loop"]
local safe_loop = {}
for _, k in ipairs({
  "async", "spawn", "await", "in_async", "now", "setTimeout", "setInterval", "clearTimeout", "clearInterval",
  "Promise", "queueMicrotask", "Timer", "describe", "TypeError", "AggregateError", "TimeoutError",
  "onUnhandledRejection",
}) do
  safe_loop[k] = loop[k]
end
local loaded = {
  _G = env, string = env.string, table = env.table, math = env.math, utf8 = env.utf8,
  coroutine = env.coroutine, os = env.os, debug = env.debug,
  ["hype.loop"] = safe_loop, ["hype.promise"] = env.Promise,
  ["hype.timers"] = copy(package.loaded["hype.timers"]),
  ["hype.events"] = package.loaded["hype.events"],
}
env.package = { loaded = loaded, preload = { ["hype.http"] = package.preload["hype.http"],
  ["hype.json"] = package.preload["hype.json"], ["hype.live"] = package.preload["hype.live"] }, path = "", cpath = "",
  config = package.config }
loaded.package = env.package

-- the string metatable: methods keep working ("x"):upper(), but getmetatable("")
-- gives a detached table, so the real string library cannot be changed
getmetatable("").__metatable = { __index = env.string }

setmetatable(env, { __index = index, __metatable = false })
set_env(env)
configure_require({ loaded = loaded, preload = env.package.preload, env = env, sandbox = true })
getregistry()[2] = env -- LUA_RIDX_GLOBALS: the global table of every chunk loaded from now on
-- (nothing returned: the environment is not plain data)
