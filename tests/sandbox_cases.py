"""The sandbox escape suite (issue 8): Lua snippets that try to leave ``Runtime(sandbox=True)``.

Shared by the native tests (``tests/test_sandbox.py``, both Lua back-ends) and the
browser tests (``playwright/test_browser_sandbox.py``, the same snippets through
``Hype.load({sandbox: true})`` in the worker).  Each snippet returns ``"safe"``
when the escape failed, or raises (also fine: the escape failed); any other
result names what leaked.  ``ESCAPES`` need no deadline; ``RUNAWAY`` snippets
never return by themselves and must be stopped by the deadline (``TIMEOUT``).
"""

from __future__ import annotations

#: name -> Lua chunk; must return "safe" or raise
ESCAPES: dict[str, str] = {
    # 1. the libraries stayed reachable through require / package.loaded
    "require_os_execute": """
        local ok, os_ = pcall(require, "os")
        if ok and type(os_) == "table" and (os_.execute or os_.getenv or os_.remove or os_.exit) then
          os_.execute("touch hype_sandbox_escaped")
          return "os.execute reachable"
        end
        return "safe"
    """,
    "require_io": """
        local ok, io_ = pcall(require, "io")
        if ok and type(io_) == "table" and io_.open then return "io reachable" end
        return "safe"
    """,
    "package_loaded": """
        local l = package.loaded
        if l.io or l.python or (l.os and l.os.execute) or (l.debug and l.debug.getupvalue)
           or l["hype.watch"] or l["hype.external"] then
          return "unsafe package.loaded entry"
        end
        if package.loadlib or package.searchpath or package.searchers then return "package loaders" end
        return "safe"
    """,
    # 2. the debug library: upvalues of host closures, the registry, sethook
    "debug_library": """
        for _, k in ipairs({ "getupvalue", "setupvalue", "upvaluejoin", "upvalueid", "getregistry", "sethook",
                             "gethook", "getinfo", "getlocal", "setlocal", "getmetatable", "setmetatable",
                             "getuservalue", "setuservalue", "setcstacklimit" }) do
          if debug[k] then return "debug." .. k end
        end
        return type(debug.traceback()) == "string" and "safe" or "no traceback"
    """,
    "storage_upvalue_chain": """
        local ok = pcall(function() return debug.getupvalue(storage.stats, 1) end)
        if ok then return "getupvalue worked" end
        return "safe"
    """,
    # 3. lupa's python global
    "python_global": """
        if python or rawget(_G, "python") or package.loaded.python then return "python reachable" end
        return "safe"
    """,
    # classic: the shared string metatable
    "string_metatable": """
        local mt = getmetatable("")
        if mt.__index.dump or string.dump then return "string.dump" end
        mt.__index = { upper = function() return "hijacked" end }
        string.upper = function() return "hijacked" end
        local ok = pcall(setmetatable, "", {})
        if ok then return "setmetatable on strings" end
        return ("a"):upper() == "A" and "safe" or "string methods hijacked"
    """,
    # classic: the environment's own metatable
    "env_metatable": """
        if getmetatable(_G) ~= false then return "env metatable visible" end
        if pcall(setmetatable, _G, {}) then return "env metatable replaced" end
        if _G._G ~= _G or package.loaded._G ~= _G then return "another global table" end
        return "safe"
    """,
    # classic: load with a crafted environment, binary chunks, internal chunk names
    "load_crafted_env": """
        local env = setmetatable({}, { __index = function(_, k) return _G[k] end })
        local f = load("return debug.getinfo, io, os.execute, _ENV", "=x", "t", env)
        local a, b, c, e = f()
        if a or b or c or e ~= env then return "crafted env leaked" end
        local g = load("return _ENV")
        if g() ~= _G then return "default env is not the sandbox" end
        return "safe"
    """,
    "load_binary_chunk": """
        local chunk = "\\27Lua\\84\\0\\25\\147\\13\\10\\26\\10\\4\\8\\8"
        if load(chunk, "=b", "b") or load(chunk, "=b", "bt") then return "binary chunk loaded" end
        local sent = false
        local f = load(function() if sent then return nil end sent = true return chunk end, "=r", "bt")
        if f then return "binary chunk through a reader" end
        return "safe"
    """,
    # classic: collectgarbage options that change the collector
    "collectgarbage": """
        for _, opt in ipairs({ "stop", "restart", "incremental", "generational", "setpause", "setstepmul" }) do
          if pcall(collectgarbage, opt) then return "collectgarbage " .. opt end
        end
        return type(collectgarbage("count")) == "number" and collectgarbage() == 0 and "safe" or "count broken"
    """,
    # classic: string.dump round trips and forged function descriptors
    "string_dump_round_trip": """
        if string.dump then return "string.dump" end
        local ok = pcall(function() Memory.evil = { ["\\0hype.function"] = { bytecode = "\\27Lua" } } end)
        if ok then return "forged descriptor stored" end
        local ok2 = pcall(storage.batch, { { type = "set", table = "Memory", key = "e",
          value = { ["\\0hype.function"] = { bytecode = "\\27Lua" } } } })
        if ok2 then return "forged descriptor stored by batch" end
        return "safe"
    """,
    # classic: error objects with __tostring run in the sandbox, not the host
    "error_tostring": """
        local obj = setmetatable({}, { __tostring = function()
          return (io or debug.getinfo or python) and "leaked" or "safe" end })
        local ok, e = pcall(error, obj)
        return tostring(e)
    """,
    # classic: coroutine tricks
    "coroutine_tricks": """
        local co = coroutine.create(function() coroutine.yield(_G, coroutine.running()) end)
        local _, g, me = coroutine.resume(co)
        if g ~= _G or g.io or g.debug.getinfo then return "coroutine saw another environment" end
        local w = coroutine.wrap(function() return debug.sethook, load end)
        local sh, ld = w()
        if sh or ld ~= load then return "wrap leaked" end
        return "safe"
    """,
    # nothing reachable from the environment is a host object or an unsafe library
    "reachability_walk": """
        local BAD = {}
        for k in ("getupvalue setupvalue upvaluejoin sethook gethook getregistry getinfo getlocal execute popen "
                  .. "loadlib dump as_attrgetter as_itemgetter eval builtins getenv exit tmpname rename lines "
                  .. "dofile loadfile"):gmatch("%S+") do BAD[k] = true end
        local seen, bad = {}, {}
        local function walk(v, path, depth)
          local t = type(v)
          if t == "userdata" then bad[#bad + 1] = path .. " (userdata)" return end
          if t ~= "table" or seen[v] or depth > 12 then return end
          seen[v] = true
          for k, x in next, v do
            if BAD[k] then bad[#bad + 1] = path .. "." .. tostring(k) end
            walk(k, path .. "[key]", depth + 1)
            walk(x, path .. "." .. tostring(k), depth + 1)
          end
          local mt = getmetatable(v)
          if mt ~= nil then walk(mt, path .. "<mt>", depth + 1) end
        end
        walk(_G, "_G", 0)
        walk(getmetatable(""), "<string mt>", 0)
        walk(Promise.resolve(1), "<promise>", 0)
        walk(require("hype.events"), "hype.events", 0)
        walk(require("hype.loop"), "hype.loop", 0)
        walk(require("hype.timers"), "hype.timers", 0)
        walk(storage.table("Memory"), "Memory", 0)
        return #bad == 0 and "safe" or table.concat(bad, ", ")
    """,
    "internal_builtins": """
        for _, name in ipairs({ "hype.external", "hype.sandbox", "hype.require", "hype.storage", "hype.test",
                                "hype.watch" }) do
          if pcall(require, name) then return "require " .. name end
        end
        local loop = require("hype.loop")
        if loop.tick or loop.track or loop.host_function or loop.with_time then return "loop internals" end
        return "safe"
    """,
    "no_dangerous_globals": """
        for _, k in ipairs({ "io", "dofile", "loadfile", "python", "warn", "module" }) do
          if rawget(_G, k) ~= nil then return "global " .. k end
        end
        for _, k in ipairs({ "execute", "getenv", "remove", "rename", "exit", "tmpname", "setlocale" }) do
          if os[k] then return "os." .. k end
        end
        return type(os.time()) == "number" and type(os.clock()) == "number" and "safe" or "clock missing"
    """,
    "memory_cap": """
        local ok, err = pcall(function()
          local t = {}
          for i = 1, 1e9 do t[i] = ("x"):rep(64) .. i end
        end)
        if ok then return "no memory cap" end
        return err == "not enough memory" and "safe" or ("unexpected error: " .. tostring(err))
    """,
}

#: name -> Lua chunk that never returns by itself: the deadline must stop it (TIMEOUT)
RUNAWAY: dict[str, str] = {
    "while_true": "while true do end",
    "coroutine_wrap": "coroutine.wrap(function() while true do end end)()",
    "coroutine_create": "local co = coroutine.create(function() while true do end end) coroutine.resume(co)",
    "pcall_swallows": "while true do pcall(function() while true do end end) end",
    "xpcall_swallows": "while true do xpcall(function() while true do end end, function(e) return e end) end",
    "resume_swallows": """
        while true do
          local co = coroutine.create(function() while true do end end)
          coroutine.resume(co)
        end
    """,
    "wrap_in_pcall": "while true do pcall(coroutine.wrap(function() while true do end end)) end",
    "internal_chunk_name": 'load("while true do end", "@hype/loop.lua")()',
    "tostring_in_error": "while true do\n"
                         "  pcall(error, setmetatable({}, {__tostring = function() while true do end end}))\n"
                         "end",
    "sethook_removed": "if debug.sethook then debug.sethook() end while true do end",
}
