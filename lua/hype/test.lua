-- hype.test: a Jest/busted-style test framework running on hype.loop.
--
-- Globals installed by install():
--   describe/context/insulate/expose(name, fn), it/test/spec(name, fn [, timeout_ms]),
--   pending(name) (inside a test: pending(msg) makes it pending), finally(fn) (in
--   an it body), xit/xdescribe (skipped), before_each/beforeEach, after_each/afterEach,
--   setup/strict_setup/before_all/beforeAll, lazy_setup, teardown/strict_teardown/
--   after_all/afterAll, lazy_teardown, randomize (accepted, order kept), expect,
--   assert (luassert-compatible, still callable like the builtin; assert:snapshot()),
--   spy, stub, mock, match.  setTimeout/setInterval/queueMicrotask are wrapped so an
--   error in a callback fails the running test; os.exit fails the test instead of
--   ending the run.
--
-- Execution follows busted 2 (see "the suites" below): describe bodies run when
-- the runner reaches them, interleaved with the tests of earlier blocks.
--
-- Async tests: a test function taking a parameter gets `done` (call done() or
-- done(err) / done.fail(msg)); a test may also return a promise or call
-- await(p) directly (every test body runs as an async function).  Each test
-- has a timeout (default 5000 ms; third argument of it(), or --timeout).
--
-- Jest negation: `expect(x).never:toBe(y)` (also `expect(x)["not"]:toBe(y)`
-- and `expect(x):never():toBe(y)`); `not` is a Lua keyword.
-- Matchers: toBe toEqual toStrictEqual toBeTruthy toBeFalsy toBeNil
-- (toBeNull/toBeUndefined) toBeDefined toContain toContainEqual toMatch
-- toThrow toBeCloseTo toHaveLength toBeGreaterThan(OrEqual) toBeLessThan(OrEqual)
-- toBeType toBeInstanceOf toHaveProperty toBeNaN toHaveBeenCalled
-- toHaveBeenCalledTimes toHaveBeenCalledWith toHaveBeenLastCalledWith
-- toHaveReturnedWith; async: expect(p).resolves:toBe(v) / .rejects (return or await it).

local loop = package.loaded["hype.loop"]
local Promise = loop.Promise
local builtin_assert = assert
local unpack, pack = table.unpack, table.pack
-- The runner's own error handling uses the plain pcall: the user-visible one
-- (hype.watch) re-raises a fired TIMEOUT/INTERRUPTED, which the runner must
-- catch to fail the test and go on.  Assertions (toThrow, has_error) keep the
-- user-visible pcall so they cannot swallow a timeout either.
local watch = package.loaded["hype.watch"]
local raw_pcall = watch and watch.raw and watch.raw.pcall or pcall

local T = {}

------------------------------------------------------------------ formatting
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function inspect(v, depth, seen)
  depth, seen = depth or 0, seen or {}
  local tv = type(v)
  if tv == "string" then return string.format("%q", v) end
  if tv ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth > 4 then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = inspect(v[i], depth + 1, seen) end
  for _, k in ipairs(sorted_keys(v)) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      local key = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or "[" .. inspect(k, depth + 1, seen) .. "]"
      parts[#parts + 1] = key .. " = " .. inspect(v[k], depth + 1, seen)
    end
    if #parts > 40 then parts[#parts + 1] = "..."; break end
  end
  seen[v] = nil
  return "{ " .. table.concat(parts, ", ") .. " }"
end
T.inspect = inspect

------------------------------------------------------------------- matchers
local MATCHER = setmetatable({}, { __mode = "k" }) -- argument matchers (match._ etc.)

local function deep_equal(a, b, strict, seen)
  if MATCHER[b] then return MATCHER[b](a) end
  if MATCHER[a] then return MATCHER[a](b) end
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then
    return a ~= a and b ~= b -- NaN equals NaN
  end
  if strict and getmetatable(a) ~= getmetatable(b) then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do
    if not deep_equal(v, rawget(b, k), strict, seen) then return false end
  end
  for k in pairs(b) do
    if rawget(a, k) == nil then return false end
  end
  return true
end
T.deep_equal = deep_equal

-- location of the first frame outside this file (the spec line)
local function where()
  for level = 3, 40 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 and not info.short_src:find("hype[/\\]test%.lua$")
      and info.what ~= "C" then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
  end
  return ""
end

local function fail(msg)
  error(where() .. msg, 0)
end
T.fail = fail

local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if type(e) == "table" and not (type(mt) == "table" and mt.__tostring) and type(rawget(e, "message")) ~= "string" then
    return inspect(e) -- busted prints error tables (pretty.write), not "table: 0x..."
  end
  return loop.describe(e)
end

local function strip_position(msg)
  if type(msg) ~= "string" then return msg end
  return (msg:gsub("^[^\n]-:%d+: ", "", 1))
end

local function call_count(s)
  return #s.calls
end

local function is_spy(v)
  return type(v) == "table" and rawget(v, "__spy") == true
end

local function calls_with(s, args)
  for _, c in ipairs(s.calls) do
    if c.n == args.n or (c.n >= args.n and args.n == 0 and false) then
      local ok = true
      for i = 1, math.max(c.n, args.n) do
        if not deep_equal(c[i], args[i]) then ok = false; break end
      end
      if ok then return true end
    end
  end
  return false
end

local function fmt_args(args)
  local parts = {}
  for i = 1, args.n do parts[i] = inspect(args[i]) end
  return "(" .. table.concat(parts, ", ") .. ")"
end

-- each matcher: function(actual, ...) -> pass, message_if_failed, message_if_negated_failed
local M = {}
function M.toBe(a, e)
  return a == e or (a ~= a and e ~= e), ("expected %s to be %s"):format(inspect(a), inspect(e)),
    ("expected %s not to be %s"):format(inspect(a), inspect(e))
end
function M.toEqual(a, e)
  return deep_equal(a, e), ("expected %s to equal %s"):format(inspect(a), inspect(e)),
    ("expected %s not to equal %s"):format(inspect(a), inspect(e))
end
function M.toStrictEqual(a, e)
  return deep_equal(a, e, true), ("expected %s to strictly equal %s"):format(inspect(a), inspect(e)),
    ("expected %s not to strictly equal %s"):format(inspect(a), inspect(e))
end
function M.toBeTruthy(a)
  return not not a, ("expected %s to be truthy"):format(inspect(a)), ("expected %s to be falsy"):format(inspect(a))
end
function M.toBeFalsy(a)
  return not a, ("expected %s to be falsy"):format(inspect(a)), ("expected %s to be truthy"):format(inspect(a))
end
function M.toBeNil(a)
  return a == nil, ("expected %s to be nil"):format(inspect(a)), "expected a value, got nil"
end
M.toBeNull, M.toBeUndefined = M.toBeNil, M.toBeNil
function M.toBeDefined(a)
  return a ~= nil, "expected a value, got nil", ("expected %s to be nil"):format(inspect(a))
end
function M.toBeNaN(a)
  return a ~= a, ("expected %s to be NaN"):format(inspect(a)), "expected a number, got NaN"
end
function M.toContain(a, item)
  local pass = false
  if type(a) == "string" then
    pass = type(item) == "string" and a:find(item, 1, true) ~= nil
  elseif type(a) == "table" then
    for _, v in pairs(a) do if v == item then pass = true; break end end
  end
  return pass, ("expected %s to contain %s"):format(inspect(a), inspect(item)),
    ("expected %s not to contain %s"):format(inspect(a), inspect(item))
end
function M.toContainEqual(a, item)
  local pass = false
  if type(a) == "table" then
    for _, v in pairs(a) do if deep_equal(v, item) then pass = true; break end end
  end
  return pass, ("expected %s to contain an item equal to %s"):format(inspect(a), inspect(item)),
    ("expected %s not to contain an item equal to %s"):format(inspect(a), inspect(item))
end
function M.toMatch(a, pattern)
  local pass = type(a) == "string" and a:match(pattern) ~= nil
  return pass, ("expected %s to match pattern %s"):format(inspect(a), inspect(pattern)),
    ("expected %s not to match pattern %s"):format(inspect(a), inspect(pattern))
end
function M.toThrow(fn, expected)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    return false, "toThrow expects a function, got " .. type(fn), "toThrow expects a function"
  end
  local ok, err = pcall(fn)
  if ok then
    return false, "expected the function to throw", "expected the function not to throw"
  end
  if expected == nil then
    return true, "", "expected the function not to throw, it threw: " .. error_text(err)
  end
  local pass
  if type(expected) == "string" then
    local text = error_text(err)
    pass = text:find(expected, 1, true) ~= nil or text:match(expected) ~= nil
  else
    pass = deep_equal(err, expected) or rawequal(getmetatable(err), expected)
  end
  return pass, ("expected the error %s to match %s"):format(inspect(err), inspect(expected)),
    ("expected the error %s not to match %s"):format(inspect(err), inspect(expected))
end
M.toThrowError = M.toThrow
function M.toBeCloseTo(a, e, digits)
  digits = digits or 2
  local pass = type(a) == "number" and type(e) == "number" and math.abs(a - e) < 10 ^ -digits / 2
  return pass, ("expected %s to be close to %s (%d digits)"):format(inspect(a), inspect(e), digits),
    ("expected %s not to be close to %s (%d digits)"):format(inspect(a), inspect(e), digits)
end
function M.toHaveLength(a, n)
  local len = (type(a) == "string" or type(a) == "table") and #a or nil
  return len == n, ("expected length %s, got %s"):format(inspect(n), inspect(len)),
    ("expected length not to be %s"):format(inspect(n))
end
local function cmp(name, op)
  M[name] = function(a, e)
    local pass = type(a) == "number" and type(e) == "number" and op(a, e)
    return pass, ("expected %s %s %s"):format(inspect(a), name, inspect(e)),
      ("expected %s not %s %s"):format(inspect(a), name, inspect(e))
  end
end
cmp("toBeGreaterThan", function(a, b) return a > b end)
cmp("toBeGreaterThanOrEqual", function(a, b) return a >= b end)
cmp("toBeLessThan", function(a, b) return a < b end)
cmp("toBeLessThanOrEqual", function(a, b) return a <= b end)
function M.toBeType(a, t)
  local actual = math.type(a) == t and t or type(a)
  return actual == t or type(a) == t, ("expected type %s, got %s"):format(t, type(a)),
    ("expected type not to be %s"):format(t)
end
function M.toBeInstanceOf(a, cls)
  local mt = getmetatable(a)
  local seen = 0
  while mt and seen < 20 do
    if mt == cls or mt.__index == cls then return true, "", "expected value not to be an instance" end
    local parent = getmetatable(mt)
    mt = parent and (type(parent.__index) == "table" and parent.__index or parent) or nil
    seen = seen + 1
  end
  return false, "expected " .. inspect(a) .. " to be an instance of the given class", ""
end
function M.toHaveProperty(a, key, ...)
  local has_value = select("#", ...) > 0
  local cur = a
  local path = type(key) == "table" and key or {}
  if type(key) ~= "table" then
    for part in tostring(key):gmatch("[^%.]+") do path[#path + 1] = tonumber(part) or part end
  end
  for _, k in ipairs(path) do
    if type(cur) ~= "table" then cur = nil; break end
    cur = cur[k]
  end
  local pass = cur ~= nil and (not has_value or deep_equal(cur, (...)))
  return pass, ("expected property %s%s"):format(inspect(key), has_value and (" = " .. inspect((...))) or ""),
    ("expected no property %s"):format(inspect(key))
end
function M.toHaveBeenCalled(s)
  return call_count(s) > 0, "expected the spy to have been called",
    ("expected the spy not to have been called, it was called %d times"):format(call_count(s))
end
function M.toHaveBeenCalledTimes(s, n)
  return call_count(s) == n, ("expected %d calls, got %d"):format(n, call_count(s)),
    ("expected not %d calls"):format(n)
end
function M.toHaveBeenCalledWith(s, ...)
  local args = pack(...)
  return calls_with(s, args), "expected the spy to have been called with " .. fmt_args(args),
    "expected the spy not to have been called with " .. fmt_args(args)
end
function M.toHaveBeenLastCalledWith(s, ...)
  local args = pack(...)
  local last = s.calls[#s.calls]
  local pass = last ~= nil and deep_equal({ unpack(last, 1, last.n) }, { unpack(args, 1, args.n) })
  return pass, "expected the last call to be " .. fmt_args(args), "expected the last call not to be " .. fmt_args(args)
end
function M.toHaveReturnedWith(s, v)
  local pass = false
  for _, r in ipairs(s.returnvals) do if deep_equal(r[1], v) then pass = true end end
  return pass, "expected the spy to have returned " .. inspect(v), "expected the spy not to have returned " .. inspect(v)
end
T.matchers = M

local ExpectMT = {}
local function make_expect(actual, negated, mode)
  return setmetatable({ actual = actual, negated = negated, mode = mode }, ExpectMT)
end
ExpectMT.__call = function(self) return self end
ExpectMT.__index = function(self, key)
  local actual, negated, mode = rawget(self, "actual"), rawget(self, "negated"), rawget(self, "mode")
  if key == "never" or key == "not" or key == "not_" then return make_expect(actual, not negated, mode) end
  if key == "resolves" or key == "rejects" then return make_expect(actual, negated, key) end
  local m = M[key]
  if m == nil then return nil end
  return function(_, ...)
    local args = pack(...)
    local function check(value)
      local pass, msg, negmsg = m(value, unpack(args, 1, args.n))
      if (not not pass) == negated then fail(negated and negmsg or msg) end
    end
    if mode == nil then return check(actual) end
    -- .resolves / .rejects: a promise the test returns or awaits
    local loc = where()
    return Promise.resolve(actual):next(function(v)
      if mode == "rejects" then error(loc .. "expected the promise to reject, it resolved with " .. inspect(v), 0) end
      check(v)
    end, function(r)
      if mode == "resolves" then error(loc .. "expected the promise to resolve, it rejected with " .. error_text(r), 0) end
      check(r)
    end)
  end
end

--- expect(actual) -> Jest-style expectation.
function T.expect(actual)
  return make_expect(actual, false, nil)
end

--- expect.extend({ name = function(actual, ...) return pass, msg, negmsg end })
function T.extend(matchers)
  for k, v in pairs(matchers) do M[k] = v end
end

---------------------------------------------------------------------- spies
local Spy = {}
Spy.__index = Spy
Spy.__call = function(self, ...)
  local args = pack(...)
  self.calls[#self.calls + 1] = args
  local ret
  if self.callback then ret = pack(self.callback(...)) else ret = pack() end
  self.returnvals[#self.returnvals + 1] = ret
  return unpack(ret, 1, ret.n)
end

local function new_spy(fn)
  local s = setmetatable({ __spy = true, calls = {}, returnvals = {}, callback = fn }, Spy)
  -- luassert's stubs take the dot form s.returns(v) / s.invokes(f); s:returns(v) works too
  s.returns = function(first, ...)
    if rawequal(first, s) then return Spy.returns(s, ...) end
    return Spy.returns(s, first, ...)
  end
  s.invokes = function(first, ...)
    if rawequal(first, s) then return Spy.invokes(s, ...) end
    return Spy.invokes(s, first)
  end
  return s
end

function Spy:clear() self.calls = {}; self.returnvals = {}; return self end
function Spy:revert()
  if self.target then rawset(self.target, self.key, self.original) end
  return self.original
end
function Spy:called(n)
  if n == nil then return #self.calls > 0 end
  return #self.calls == n
end
function Spy:called_with(...) return calls_with(self, pack(...)) end
function Spy:returned_with(...)
  local want = pack(...)
  for _, r in ipairs(self.returnvals) do
    local ok = true
    for i = 1, math.max(r.n, want.n) do if not deep_equal(r[i], want[i]) then ok = false end end
    if ok then return true end
  end
  return false
end
function Spy:returns(...)
  local vals = pack(...)
  self.callback = function() return unpack(vals, 1, vals.n) end
  return self
end
function Spy:invokes(fn) self.callback = fn; return self end
Spy.mockReturnValue = Spy.returns
Spy.mockImplementation = Spy.invokes
Spy.mockClear = Spy.clear

local spies = {} -- spies/stubs on tables (spy.on, stub, mock), reverted when their scope ends

local spy = setmetatable({}, { __call = function(_, fn) return new_spy(fn) end })
function spy.new(fn) return new_spy(fn) end
function spy.on(target, key)
  local s = new_spy(target[key])
  s.target, s.key, s.original = target, key, target[key]
  rawset(target, key, s)
  spies[#spies + 1] = s
  return s
end
function spy.is_spy(v) return is_spy(v) end

local function new_stub(target, key, ...)
  local vals = pack(...)
  local s = new_spy(function() return unpack(vals, 1, vals.n) end)
  if target ~= nil then
    s.target, s.key, s.original = target, key, target[key]
    rawset(target, key, s)
    spies[#spies + 1] = s
  end
  return s
end
local stub = setmetatable({ new = new_stub }, { __call = function(_, ...) return new_stub(...) end })

local mock = setmetatable({}, { __call = function(_, tbl, dostub)
  for k, v in pairs(tbl) do
    if type(v) == "function" then
      if dostub then new_stub(tbl, k) else spy.on(tbl, k) end
    end
  end
  return tbl
end })
function mock.revert(tbl)
  for k, v in pairs(tbl) do
    if is_spy(v) then v:revert() end
  end
  return tbl
end
function mock.clear(tbl)
  for _, v in pairs(tbl) do if is_spy(v) then v:clear() end end
  return tbl
end

-- revert the spies created since `mark` (= #spies when the scope began):
-- a test's (hooks, body, finally) after the test, a block's (describe body,
-- setup) after its teardown, and assert:snapshot()'s on snapshot:revert()
local function revert_spies(mark)
  mark = mark or 0
  for i = #spies, mark + 1, -1 do
    local s = spies[i]
    spies[i] = nil
    s:revert()
  end
end
local function new_snapshot()
  local mark = #spies
  return { revert = function() revert_spies(mark) end }
end

-- match: argument matchers for called_with / same (luassert.match).  A matcher
-- is callable: match.is_table()(v) -> boolean.  Names are read like luassert's:
-- modifier words (is, are, has, ...) are skipped and "not"/"no" negates, so
-- match.is_not_nil(), match.is_not.Nil() and match.no.is_string() all work.
local MatcherMT = {
  __tostring = function() return "<matcher>" end,
  __call = function(self, v) return MATCHER[self](v) end,
}
local function matcher(fn)
  local m = setmetatable({}, MatcherMT)
  MATCHER[m] = fn
  return m
end
local function all_matching(ms, v, want)
  for _, m in ipairs(ms) do if (MATCHER[m] or function(x) return deep_equal(x, m) end)(v) ~= want then return false end end
  return true
end
local MATCHERS = {
  _ = function() return true end,
  truthy = function() return function(v) return not not v end end,
  falsy = function() return function(v) return not v end end,
  ["true"] = function() return function(v) return v == true end end,
  ["false"] = function() return function(v) return v == false end end,
  ["nil"] = function() return function(v) return v == nil end end,
  same = function(e) return function(v) return deep_equal(v, e) end end,
  equal = function(e) return function(v) return v == e end end,
  equals = function(e) return function(v) return v == e end end,
  ref = function(e) return function(v) return rawequal(v, e) end end,
  matches = function(p, init, plain)
    return function(v) return type(v) == "string" and v:find(p, init, plain) ~= nil end
  end,
  near = function(e, tol) return function(v) return type(v) == "number" and v >= e - tol and v <= e + tol end end,
  all_of = function(...) local ms = { ... }; return function(v) return all_matching(ms, v, true) end end,
  any_of = function(...)
    local ms = { ... }
    return function(v) for _, m in ipairs(ms) do if MATCHER[m](v) then return true end end return false end
  end,
  none_of = function(...) local ms = { ... }; return function(v) return all_matching(ms, v, false) end end,
}
MATCHERS.match = MATCHERS.matches
for _, t in ipairs({ "string", "number", "table", "function", "boolean", "userdata", "thread" }) do
  MATCHERS[t] = function() return function(v) return type(v) == t end end
end
local MATCH_MODIFIERS = { is = true, are = true, was = true, has = true, does = true, ["do"] = true }
local function match_lookup(words)
  local negated, name = false, {}
  for _, w in ipairs(words) do
    if w == "not" or w == "no" then negated = not negated
    elseif not MATCH_MODIFIERS[w] then name[#name + 1] = w end
  end
  local key = table.concat(name, "_")
  local factory = MATCHERS[key]
  if not factory then return nil end
  return function(...)
    local test = factory(...)
    return matcher(function(v) return (not not test(v)) ~= negated end)
  end
end
local MatchNS = {}
MatchNS.__index = function(self, key)
  local words = {}
  for _, w in ipairs(rawget(self, "words")) do words[#words + 1] = w end
  for w in tostring(key):lower():gmatch("[^_]+") do words[#words + 1] = w end
  if key == "_" then words = { "_" } end
  local f = match_lookup(words)
  if f and not (#words == 1 and MATCH_MODIFIERS[words[1]]) then
    if key == "_" then return matcher(MATCHERS._) end
    return setmetatable({ words = words }, { __index = MatchNS.__index, __call = function(_, ...) return f(...) end })
  end
  return setmetatable({ words = words }, MatchNS)
end
local match = setmetatable({ words = {} }, MatchNS)
match.any = matcher(MATCHERS._)
function match.is_matcher(v) return MATCHER[v] ~= nil end

------------------------------------------------------------- luassert-compatible
-- say: luassert's message registry (lunarmodules/say), also package.loaded["say"]
local say_registry, say_ns, say_fallback = { en = {} }, "en", "en"
local say = setmetatable({ _registry = say_registry }, { __call = function(_, key, vars)
  vars = vars or {}
  local n = math.max(vars.n or 0, #vars)
  local str = (say_registry[say_ns] or {})[key] or (say_registry[say_fallback] or {})[key]
  if str == nil then return nil end
  str = tostring(str)
  local strings = {}
  for i = 1, n do strings[i] = tostring(vars[i]) end
  return #strings > 0 and str:format(unpack(strings, 1, n)) or str
end })
function say:set_namespace(ns) say_ns = ns; say_registry[ns] = say_registry[ns] or {} end
function say:set_fallback(ns) say_fallback = ns; say_registry[ns] = say_registry[ns] or {} end
function say:set(key, value) say_registry[say_ns][key] = value end

-- formatters (assert:add_formatter) and parameters (assert:set_parameter)
local formatters, parameters = {}, { TableFormatLevel = 3, TableErrorHighlightCharacter = "*" }
local function default_format(v)
  local tv = type(v)
  if tv == "nil" then return "(nil)" end
  if tv == "string" then return "(string) '" .. v .. "'" end
  if tv == "table" then
    local mt = getmetatable(v)
    if mt and mt.__tostring then return "(" .. tostring(v) .. ")" end
    return "(" .. tostring(v):gsub("^table: ", "table: ") .. ") " .. inspect(v)
  end
  return "(" .. tv .. ") " .. tostring(v)
end
local function format_argument(v, fmtarg)
  for i = #formatters, 1, -1 do
    local s = formatters[i](v, fmtarg)
    if s ~= nil then return s end
  end
  return default_format(v)
end

local NS = { assertion = {}, modifier = {} } -- luassert's namespaces: name -> entry
local A = {} -- built-in assertions: name -> function(state, ...) -> pass, msg, negmsg [, returned values]
local ALIASES = { equals = "equal", errors = "error", has_error = "error", throws = "error", throw = "error",
  match = "matches", error_match = "error_matches", errors_matches = "error_matches",
  matches_error = "error_matches" }
local ARITY = { ["true"] = 1, ["false"] = 1, ["nil"] = 1, truthy = 1, falsy = 1, callable = 1, same = 2,
  equal = 2, near = 3, unique = 1, string = 1, number = 1, table = 1, ["function"] = 1, boolean = 1,
  userdata = 1, thread = 1, error = 2, matches = 4, error_matches = 5 }
local NOOP_MODIFIERS = { "is", "are", "was", "were", "has", "have", "does", "do", "to", "be", "been", "the", "a", "an" }
for _, w in ipairs(NOOP_MODIFIERS) do NS.modifier[w] = { callback = function() end } end
NS.modifier["not"] = { callback = function(state) state.mod = not state.mod end }
NS.modifier.no = NS.modifier["not"]
-- assert.spy(s) / assert.stub(s): the spy is the state's payload
NS.modifier.spy = { callback = function(state, args) if args then state.payload = args[1] end end }
NS.modifier.stub = NS.modifier.spy
-- assert.message("why").is_true(x)
NS.modifier.message = { callback = function(state, args) if args then state.failure_message = args[1] end end }

A["true"] = function(_, v) return v == true, "expected true, got " .. inspect(v), "expected not true" end
A["false"] = function(_, v) return v == false, "expected false, got " .. inspect(v), "expected not false" end
A["nil"] = function(_, v) return v == nil, "expected nil, got " .. inspect(v), "expected a non-nil value" end
A.truthy = function(_, v) return not not v, "expected a truthy value, got " .. inspect(v), "expected a falsy value, got " .. inspect(v) end
A.falsy = function(_, v) return not v, "expected a falsy value, got " .. inspect(v), "expected a truthy value, got " .. inspect(v) end
A.same = function(_, e, a)
  return deep_equal(e, a), ("Expected objects to be the same.\nPassed in:\n%s\nExpected:\n%s"):format(inspect(a), inspect(e)),
    ("Expected objects to not be the same.\nPassed in:\n%s\nDid not expect:\n%s"):format(inspect(a), inspect(e))
end
A.equal = function(_, e, a)
  return e == a, ("Expected objects to be equal.\nPassed in:\n%s\nExpected:\n%s"):format(inspect(a), inspect(e)),
    ("Expected objects to not be equal.\nPassed in:\n%s\nDid not expect:\n%s"):format(inspect(a), inspect(e))
end
-- unique(list [, deep] [, message]): luassert takes a string second argument as the message
A.unique = function(_, list, deep)
  if type(deep) ~= "boolean" then deep = false end
  local seen = {}
  for k, v in pairs(list) do
    for _, k2 in ipairs(seen) do
      local v2 = list[k2]
      if (deep and deep_equal(v, v2)) or v == v2 then
        return false, "Expected object to be unique:\n" .. inspect(list), "Expected object to not be unique:\n" .. inspect(list)
      end
    end
    seen[#seen + 1] = k
  end
  return true, "", "Expected object to not be unique:\n" .. inspect(list)
end
A.near = function(_, e, a, tol)
  local pass = type(a) == "number" and a >= e - tol and a <= e + tol
  return pass, ("expected %s to be within %s of %s"):format(inspect(a), inspect(tol), inspect(e)),
    ("expected %s not to be within %s of %s"):format(inspect(a), inspect(tol), inspect(e))
end
A.matches = function(_, pattern, s, init, plain)
  if type(s) == "number" then s = tostring(s) end
  local pass = type(s) == "string" and s:find(pattern, init, plain) ~= nil
  return pass, ("expected %s to match %s"):format(inspect(s), inspect(pattern)),
    ("expected %s not to match %s"):format(inspect(s), inspect(pattern))
end
A.callable = function(_, v)
  local pass = type(v) == "function" or ((getmetatable(v) or {}).__call ~= nil)
  return pass, "expected a callable, got " .. type(v), "expected a non-callable"
end
local function is_callable(f)
  return type(f) == "function" or (type(getmetatable(f)) == "table" and getmetatable(f).__call ~= nil)
end
local function has_tostring(v)
  local mt = getmetatable(v)
  return type(v) == "string" or type(v) == "number" or (type(mt) == "table" and mt.__tostring ~= nil)
end
-- luassert's has_error: the position prefix of a string error is removed; a
-- string expectation compares with tostring() of an error object; a number with
-- tonumber(err); anything else deep-compares.  Returns the error (retargs).
A.error = function(_, fn, expected)
  if not is_callable(fn) then fail("bad argument #1 to 'error' (function expected, got " .. type(fn) .. ")") end
  local ok, err = pcall(fn)
  if type(err) == "string" then err = strip_position(err) end
  if ok then return false, "expected an error", "expected no error", { n = 0 } end
  local ret = { err, n = 1 }
  if expected == nil then return true, "", "expected no error, got: " .. error_text(err), ret end
  local pass
  if type(expected) == "string" then
    local actual = err
    if has_tostring(actual) then actual = tostring(actual); ret[1] = actual end
    pass = actual == expected
  elseif type(expected) == "number" and type(err) == "string" then
    pass = tostring(expected) == tostring(tonumber(err))
  else
    pass = deep_equal(expected, err)
  end
  return pass, ("expected error %s, got %s"):format(inspect(expected), inspect(err)),
    ("expected an error other than %s"):format(inspect(expected)), ret
end
A.error_matches = function(_, fn, pattern, init, plain)
  if not is_callable(fn) then fail("bad argument #1 to 'error_matches' (function expected, got " .. type(fn) .. ")") end
  local ok, err = pcall(fn)
  if ok then return false, "expected an error", "expected no error", { n = 0 } end
  if type(err) == "string" then err = strip_position(err) end
  local ret = { err, pattern, n = 2 }
  if not has_tostring(err) then
    return false, ("expected error %s to match %s"):format(inspect(err), inspect(pattern)), "", ret
  end
  local text = tostring(err)
  local pass = text:find(pattern, init, plain) ~= nil
  return pass, ("expected error %s to match %s"):format(inspect(text), inspect(pattern)),
    ("expected error %s not to match %s"):format(inspect(text), inspect(pattern)), ret
end
-- returned_arguments(n, f()): f returned n values
A.returned_arguments = function(_, n, ...)
  local got = select("#", ...)
  return tostring(n) == tostring(got), ("expected %s returned arguments, got %d"):format(tostring(n), got),
    ("expected not %s returned arguments"):format(tostring(n))
end
for _, t in ipairs({ "string", "number", "table", "function", "boolean", "userdata", "thread" }) do
  A[t] = function(_, v) return type(v) == t, ("expected a %s, got %s"):format(t, type(v)),
    ("expected not a %s"):format(t) end
end
-- spy assertions (assert.spy(s).was.called(n))
local function spy_of(state)
  local s = state.payload
  if not is_spy(s) then fail("assert.spy(x): x is not a spy") end
  return s
end
A.called = function(state, n)
  local s = spy_of(state)
  local c = call_count(s)
  if n == nil then return c > 0, "expected the spy to be called", ("expected the spy not to be called, it was called %d times"):format(c) end
  return c == n, ("expected %d calls, got %d"):format(n, c), ("expected not %d calls"):format(n)
end
A.called_with = function(state, ...)
  local args = pack(...)
  return calls_with(spy_of(state), args), "expected the spy to be called with " .. fmt_args(args),
    "expected the spy not to be called with " .. fmt_args(args)
end
A.returned_with = function(state, ...)
  local args = pack(...)
  return spy_of(state):returned_with(...), "expected the spy to have returned " .. fmt_args(args),
    "expected the spy not to have returned " .. fmt_args(args)
end
A.called_at_least = function(state, n) local c = call_count(spy_of(state)); return c >= n, ("expected at least %d calls, got %d"):format(n, c), "" end
A.called_at_most = function(state, n) local c = call_count(spy_of(state)); return c <= n, ("expected at most %d calls, got %d"):format(n, c), "" end
A.called_more_than = function(state, n) local c = call_count(spy_of(state)); return c > n, ("expected more than %d calls, got %d"):format(n, c), "" end
A.called_less_than = function(state, n) local c = call_count(spy_of(state)); return c < n, ("expected fewer than %d calls, got %d"):format(n, c), "" end
for name in pairs(A) do ARITY[name] = ARITY[name] or 99 end
ARITY.called, ARITY.called_at_least, ARITY.called_at_most = 1, 1, 1
ARITY.called_more_than, ARITY.called_less_than = 1, 1

local function known(name)
  return NS.assertion[name] ~= nil or NS.modifier[name] ~= nil or A[name] ~= nil or ALIASES[name] ~= nil
end
-- luassert's util.extract_keys: at each word, the longest run of words naming a
-- registered assertion or modifier ("is_realm_handle" may be one assertion)
local function extract_keys(words)
  local keys, i = {}, 1
  while i <= #words do
    local found
    for j = #words, i, -1 do
      local name = table.concat(words, "_", i, j)
      if known(name) then found = j; keys[#keys + 1] = name; break end
    end
    if not found then return nil, words[i] end
    i = found + 1
  end
  return keys
end

local function geterror(message_key, failure_message, args)
  if has_tostring(failure_message) then failure_message = tostring(failure_message)
  elseif failure_message ~= nil then failure_message = format_argument(failure_message) end
  local fmt = { n = args.n or #args }
  local nofmt, fmtargs = args.nofmt or {}, args.fmtargs or {}
  for i = 1, fmt.n do
    if nofmt[i] then fmt[i] = args[i] else fmt[i] = format_argument(args[i], fmtargs[i]) end
  end
  local message = message_key and say(message_key, fmt)
  if message and failure_message then message = failure_message .. "\n" .. message end
  return message or failure_message
end

local ProxyMT = {}
local function proxy(words, state)
  return setmetatable({ words = words, state = state or { mod = true } }, ProxyMT)
end
ProxyMT.__index = function(self, key)
  local words = {}
  for _, w in ipairs(rawget(self, "words")) do words[#words + 1] = w end
  for w in tostring(key):lower():gmatch("[^_]+") do words[#words + 1] = w end
  return proxy(words, rawget(self, "state"))
end
ProxyMT.__call = function(self, ...)
  local state = {}
  for k, v in pairs(rawget(self, "state")) do state[k] = v end
  local keys, bad = extract_keys(rawget(self, "words"))
  if not keys then fail("luassert: unknown modifier/assertion: '" .. tostring(bad) .. "'") end
  local assertion
  for _, k in ipairs(keys) do
    if NS.assertion[k] or A[k] or ALIASES[k] then assertion = k end
  end
  local args = pack(...)
  if assertion == nil then -- only modifiers: assert.spy(s), assert.message("m"), assert.is_not(...)
    for _, k in ipairs(keys) do NS.modifier[k].callback(state, args, 2) end
    return proxy({}, state)
  end
  for _, k in ipairs(keys) do
    if k ~= assertion and NS.modifier[k] then NS.modifier[k].callback(state) end
  end
  local custom = NS.assertion[assertion]
  if custom then -- registered with assert:register("assertion", ...): luassert's calling convention
    local val, retargs = custom.callback(state, args, 2)
    if (not val) == state.mod then
      local key = state.mod and custom.positive_message or custom.negative_message
      fail(geterror(key, rawget(state, "failure_message"), args) or "assertion failed!")
    end
    if retargs then return unpack(retargs, 1, retargs.n or #retargs) end
    return ...
  end
  local key = ALIASES[assertion] or assertion
  local pass, msg, negmsg, ret = A[key](state, ...)
  if (not not pass) == not state.mod then
    local text = state.mod and msg or negmsg
    local custom_msg = args.n > (ARITY[key] or 99) and args[args.n] or nil -- luassert: optional trailing message
    custom_msg = custom_msg or state.failure_message
    if custom_msg ~= nil then text = tostring(custom_msg) .. "\n" .. text end
    fail(text)
  end
  if ret then return unpack(ret, 1, ret.n) end
  return ...
end

local luassert = setmetatable({}, {
  __index = function(_, key) return ProxyMT.__index(proxy({}, nil), key) end,
  -- assert(v, msg, ...): Lua's assert, returning all its arguments
  __call = function(_, ...) return builtin_assert(...) end,
})
-- luassert's methods (assert:register, assert:set_parameter, ...)
function luassert:register(nspace, name, callback, positive_message, negative_message)
  NS[nspace] = NS[nspace] or {}
  NS[nspace][name:lower()] = { callback = callback, name = name:lower(),
    positive_message = positive_message, negative_message = negative_message }
end
function luassert:unregister(nspace, name)
  if NS[nspace] then NS[nspace][name:lower()] = nil end
  if nspace == "assertion" then A[name:lower()] = nil end
end
function luassert:add_formatter(fn) formatters[#formatters + 1] = fn end
function luassert:remove_formatter(fn)
  for i = #formatters, 1, -1 do if formatters[i] == fn then table.remove(formatters, i) end end
end
function luassert:format(args)
  for i = 1, args.n or #args do
    if not (args.nofmt or {})[i] then args[i] = format_argument(args[i], (args.fmtargs or {})[i]) end
  end
  return args
end
function luassert:set_parameter(name, value) parameters[name] = value end
function luassert:get_parameter(name) return parameters[name] end
function luassert:snapshot() return new_snapshot() end
function luassert:add_spy(s) spies[#spies + 1] = s end
local level_mt = {}
function luassert:level(n) return setmetatable({ level = n }, level_mt) end
function luassert:get_level(l) if getmetatable(l) == level_mt then return l.level end end
function luassert.fail(msg) fail(tostring(msg)) end
function luassert.state() return proxy({}, nil) end

--- Register a custom assertion in hype's form: fn(state, ...) -> pass, msg, negmsg.
function T.register_assertion(name, fn) A[name] = fn; ARITY[name] = ARITY[name] or 99 end
T.say = say

----------------------------------------------------------------- the suites
-- busted 2's execution model (busted/init.lua, busted/block.lua, busted/core.lua):
-- loading a spec file only registers its top-level blocks, tests and hooks.  A
-- describe body runs when the runner reaches that block (after the tests of the
-- blocks before it, so it sees what their hooks set); then the block runs:
--   setup (= strict_setup) hooks; the children in order, unless a setup failed;
--   lazy_teardown (when its lazy_setup ran); teardown (= strict_teardown), always.
-- A test: lazy_setup of every enclosing block not yet set up (outer first, once
-- per block); before_each outer -> inner (the levels below one that failed do
-- not run, nor the body); the body; its finally(fn); after_each inner -> outer,
-- from the deepest level before_each reached.
-- insulate blocks restore _G and package.loaded when they end; expose blocks
-- keep their changes past the enclosing insulate block.

local PENDING = { __tostring = function(p) return "pending: " .. tostring(p.message) end }
local ABORT = setmetatable({}, { __tostring = function() return "interrupted (Ctrl+C)" end })
local root, current, collecting, running, tests

local function new_block(name, parent, fn, envmode)
  return { name = name, parent = parent, children = {}, fn = fn, envmode = envmode,
    before_each = {}, after_each = {}, strict_setup = {}, strict_teardown = {},
    lazy_setup = {}, lazy_teardown = {}, skip = parent and parent.skip or false }
end

function T.reset(file)
  root = new_block("", nil)
  root.file = file
  root.collected = true -- the file chunk is the root's body
  current, collecting, running, tests = root, true, nil, 0
end
T.reset("")

local function full_name(block, name)
  local parts = { name }
  while block and block.parent do table.insert(parts, 1, block.name); block = block.parent end
  return table.concat(parts, " ")
end

-- describe/it/hooks called while a test or hook runs (busted: block.rejectAll)
local function reject(what)
  error(("'%s' not supported inside current context block"):format(what), 3)
end

-- busted's publisher: (name, fn), or (fn) named after the descriptor
local function name_and_fn(name, fn, default)
  if fn == nil and is_callable(name) then return default, name end
  return name, fn
end

local function add_block(kind, name, fn, envmode)
  if not collecting then reject(kind) end
  name, fn = name_and_fn(name, fn, kind)
  local block = new_block(tostring(name), current, fn, envmode)
  current.children[#current.children + 1] = { kind = "block", block = block }
  if fn == nil then -- busted's curried form: describe "name" (function() ... end)
    return function(f) block.fn = f end
  end
  return block
end

function T.describe(name, fn) return add_block("describe", name, fn) end
function T.insulate(name, fn) return add_block("insulate", name, fn, "insulate") end
function T.expose(name, fn) return add_block("expose", name, fn, "expose") end

function T.xdescribe(name, fn)
  local b = add_block("describe", name, fn)
  if type(b) == "table" then b.skip = true end
end

function T.it(name, fn, timeout)
  if not collecting then reject("it") end
  name, fn = name_and_fn(name, fn, "it")
  tests = tests + 1
  local test = { kind = "test", name = tostring(name), fn = fn, block = current, timeout = timeout,
    pending = fn == nil or current.skip }
  current.children[#current.children + 1] = test
  if fn == nil then
    -- it "name" (function() ... end); never completed, it stays pending
    local skip = current.skip
    return function(f, t) test.fn, test.pending, test.timeout = f, skip or f == nil, t or test.timeout end
  end
end

--- pending(name [, fn]) registers a pending test; inside a running test,
--- pending(msg) stops it and reports it pending (busted).
function T.pending(name)
  if running then error(setmetatable({ message = name }, PENDING), 2) end
  if not collecting then reject("pending") end
  current.children[#current.children + 1] = { kind = "test", name = tostring(name), block = current, pending = true }
end

function T.xit(name) T.pending(name) end

local function hook(kind, label)
  return function(name, fn)
    if not collecting then reject(label) end
    if fn == nil then fn = name end -- before_each(fn) or before_each("name", fn)
    if not is_callable(fn) then error(label .. ": expected a function", 2) end
    local list = current[kind]
    list[#list + 1] = fn
  end
end
T.before_each, T.after_each = hook("before_each", "before_each"), hook("after_each", "after_each")
T.setup, T.teardown = hook("strict_setup", "setup"), hook("strict_teardown", "teardown")
T.strict_setup, T.strict_teardown = hook("strict_setup", "strict_setup"), hook("strict_teardown", "strict_teardown")
T.lazy_setup, T.lazy_teardown = hook("lazy_setup", "lazy_setup"), hook("lazy_teardown", "lazy_teardown")

--- finally(fn) inside an it(): runs after the test body, passed or failed; a
--- failing finally fails the test (busted).  The last call wins.
function T.finally(fn)
  if not running or running.phase ~= "body" then
    error("'finally' is only available inside an it() body", 2)
  end
  running.finally = fn
end

--- randomize(): accepted for busted compatibility; tests keep their written order.
function T.randomize() end

-- run a block's body (registers its children); returns ok, err
local function collect(block)
  if block.collected then return true end
  block.collected = true
  if block.fn == nil then return true end
  local saved_current, saved_collecting, saved_running = current, collecting, running
  current, collecting, running = block, true, nil
  local ok, err = raw_pcall(block.fn)
  current, collecting, running = saved_current, saved_collecting, saved_running
  return ok, err
end

--- Names of every test (full names, in order).  Runs the describe bodies
--- (collection only, no hooks): use a runtime that is thrown away afterwards.
function T.list()
  local out = {}
  local function walk(block)
    local ok = collect(block)
    if not ok then out[#out + 1] = full_name(block, "(describe body)") return end
    for _, c in ipairs(block.children) do
      if c.kind == "block" then walk(c.block) else out[#out + 1] = full_name(c.block, c.name) end
    end
  end
  walk(root)
  return out
end

----------------------------------------------------------------- the runner
local current_test_error -- set by unhandled rejections during a test
local current_reject     -- rejects what run_fn awaits (an error in a timer callback)
local stray = {}         -- errors of timer callbacks while nothing was awaited
local deadline           -- host function(seconds|nil, message): the watch hook's deadline

local function arm(ms, what)
  if deadline then
    deadline(ms / 1000, ("timeout: exceeded %d ms%s (the %s did not return: a loop that never ends?)")
      :format(ms, what and (" in " .. what) or "", what or "test"))
  end
end
local function disarm() if deadline then deadline(nil) end end

local function is_interrupt(err)
  return err == ABORT or (type(err) == "string" and err:find("HypeError: [INTERRUPTED]", 1, true) ~= nil)
end
local function check_abort(err)
  if is_interrupt(err) then error(ABORT, 0) end
end

-- the failure message of an error: the watch hook's TIMEOUT without its prefix
local function readable(err)
  if type(err) == "string" then
    local m = err:match("HypeError: %[TIMEOUT%] (.*)$")
    if m then return m end
  end
  return err
end

-- errors in timer callbacks fail the test that is running (like Jest), not the file
local function on_uncaught(e)
  if current_reject then current_reject(e) else stray[#stray + 1] = e end
end
local function guard(fn)
  if not is_callable(fn) then return fn end
  return function(...)
    local ok, e = raw_pcall(fn, ...)
    if not ok then on_uncaught(e) end
  end
end

-- run fn (maybe taking `done`, maybe returning a promise) with a timeout; returns ok, err
local function run_fn(fn, timeout, what)
  arm(timeout, what)
  local info = type(fn) == "function" and debug.getinfo(fn, "u") or nil
  local p
  if info and info.nparams and info.nparams >= 1 then
    local settle_res, settle_rej
    p = Promise.new(function(res, rej) settle_res, settle_rej = res, rej end)
    local done = setmetatable({
      fail = function(msg) settle_rej(msg or "done.fail() called") end,
    }, { __call = function(_, err)
      if err ~= nil then settle_rej(err) else settle_res() end
    end })
    loop.spawn(fn, done):catch(settle_rej)
  else
    p = loop.spawn(function()
      local r = fn()
      if Promise.is(r) then return loop.await(r) end
      return r
    end)
  end
  if p.state ~= 0 then -- settled synchronously: no timer needed
    disarm()
    local st, v = p:status()
    p:catch(function() end)
    return st == "fulfilled", v
  end
  local timer, fail
  local timeout_p = Promise.new(function(_, rej)
    fail = rej
    timer = loop.setTimeout(function()
      rej(("timeout: exceeded %d ms (call done() or settle the returned promise)"):format(timeout))
    end, timeout)
  end)
  current_reject = fail
  local ok, err = raw_pcall(loop.await, Promise.race({ p, timeout_p }))
  current_reject = nil
  loop.clearTimeout(timer)
  disarm()
  return ok, err
end

local function save_env()
  local g, loaded = {}, {}
  for k, v in next, _G do g[k] = v end
  for k, v in pairs(package.loaded) do loaded[k] = v end
  return { gmt = getmetatable(_G), g = g, loaded = loaded }
end
local function restore_env(state)
  setmetatable(_G, state.gmt)
  for k in next, _G do if state.g[k] == nil then rawset(_G, k, nil) end end
  for k, v in pairs(state.g) do rawset(_G, k, v) end
  for k in pairs(package.loaded) do if state.loaded[k] == nil then package.loaded[k] = nil end end
  for k, v in pairs(state.loaded) do package.loaded[k] = v end
end

--- Run the suite; returns a promise of { passed, failed, pending }.
--- opts: { filter = lua pattern or plain text on the full name, timeout = ms,
---         tags / exclude_tags = comma-separated tag names (#tag in test names),
---         report = function(result), deadline = function(seconds|nil, message),
---         interrupted = function() }; result = { name, full_name, status,
---         message, duration_ms, path }.  Ctrl+C (the watch hook's INTERRUPTED)
---         stops the run: interrupted() is called and the promise resolves.
function T.run(opts)
  opts = opts or {}
  local report = opts.report or function() end
  local filter = opts.filter
  local default_timeout = opts.timeout or 5000
  deadline = opts.deadline
  local function tag_set(s)
    local set = nil
    for t in tostring(s or ""):gmatch("[^,%s]+") do set = set or {}; set[(t:gsub("^#", ""))] = true end
    return set
  end
  local include, exclude = tag_set(opts.tags), tag_set(opts.exclude_tags)
  local narrowed = (filter and filter ~= "") or include ~= nil or exclude ~= nil
  local counts = { passed = 0, failed = 0, pending = 0 }
  local clock = loop.now
  local states = {} -- insulate snapshots of the enclosing blocks (false: none)
  loop.onUnhandledRejection(function(reason)
    if is_interrupt(reason) or (type(reason) == "string" and reason:find("HypeError: [TIMEOUT]", 1, true)) then
      if current_reject then return current_reject(reason) end
    end
    if current_test_error == nil then current_test_error = reason end
  end)

  local function selected(name)
    if include or exclude then
      local has = false
      for t in name:gmatch("#([%w_%-%.:]+)") do
        if exclude and exclude[t] then return false end
        if include and include[t] then has = true end
      end
      if include and not has then return false end
    end
    if not filter or filter == "" then return true end
    if name:find(filter, 1, true) then return true end
    local ok, found = raw_pcall(string.find, name, filter)
    return ok and found ~= nil
  end

  local function path_of(block)
    local parts = {}
    while block and block.parent do table.insert(parts, 1, block.name); block = block.parent end
    return parts
  end

  local function emit(test, status, message, duration)
    counts[status] = counts[status] + 1
    message = readable(message)
    report({ name = test.name, full_name = full_name(test.block, test.name), path = path_of(test.block),
      status = status, message = message ~= nil and error_text(message) or nil, duration_ms = duration or 0 })
  end

  local function chain_of(block)
    local chain = {}
    while block do table.insert(chain, 1, block); block = block.parent end
    return chain
  end

  local function run_test(test)
    local name = full_name(test.block, test.name)
    if not selected(name) then return end
    if test.error then return emit(test, "failed", test.error, 0) end
    if test.pending or test.fn == nil then return emit(test, "pending", nil, 0) end
    local chain = chain_of(test.block)
    -- lazy_setup: once per block, outer first; a failed level stops the deeper ones
    for _, b in ipairs(chain) do
      if b.lazy_ok == nil then
        b.lazy_ok = true
        for _, fn in ipairs(b.lazy_setup) do
          local ok, err = run_fn(fn, default_timeout, "lazy_setup")
          check_abort(err)
          if not ok and b.lazy_ok then b.lazy_ok, b.lazy_err = false, err end
        end
      end
      if b.lazy_ok == false then
        return emit(test, "failed", "lazy_setup failed: " .. error_text(readable(b.lazy_err)), 0)
      end
    end
    local t0 = clock()
    local mark = #spies
    current_test_error = nil
    running = test
    test.phase = "hooks"
    local status, err = "passed", nil
    local reached = 0
    for i, b in ipairs(chain) do
      reached = i
      for _, fn in ipairs(b.before_each) do
        local ok, e = run_fn(fn, default_timeout, "before_each")
        check_abort(e)
        if not ok and status == "passed" then status, err = "failed", e end
      end
      if status ~= "passed" then break end
    end
    if status == "passed" then
      test.phase = "body"
      local ok, e = run_fn(test.fn, test.timeout or default_timeout)
      check_abort(e)
      if not ok then
        if getmetatable(e) == PENDING then status = "pending" else status, err = "failed", e end
      end
      if test.finally then
        test.phase = "finally"
        local ok2, e2 = run_fn(test.finally, default_timeout, "finally")
        check_abort(e2)
        if not ok2 and status ~= "failed" then status, err = "failed", e2 end
      end
    end
    test.phase = "hooks"
    for i = reached, 1, -1 do
      for _, fn in ipairs(chain[i].after_each) do
        local ok, e = run_fn(fn, default_timeout, "after_each")
        check_abort(e)
        if not ok and status ~= "failed" then status, err = "failed", e end
      end
    end
    running = nil
    revert_spies(mark)
    loop.check_unhandled()
    if status ~= "failed" and current_test_error ~= nil then
      status, err = "failed", "unhandled promise rejection: " .. error_text(current_test_error)
    end
    current_test_error = nil
    emit(test, status, status == "failed" and err or nil, clock() - t0)
  end

  local function has_work(block)
    if not narrowed then return true end
    for _, c in ipairs(block.children) do
      if c.kind == "block" or selected(full_name(c.block, c.name)) then return true end
    end
    return false
  end

  local function exec_block(block)
    local state = block.envmode == "insulate" and save_env() or false
    states[#states + 1] = state
    local mark = #spies
    if not block.collected then arm(default_timeout, "describe body") end
    local ok, err = collect(block)
    disarm()
    check_abort(err)
    if not ok then
      emit({ name = "(describe body)", block = block }, "failed", err, 0)
    elseif has_work(block) then
      local setup_ok, setup_err = true, nil
      if not block.skip then
        for _, fn in ipairs(block.strict_setup) do
          local ok1, e = run_fn(fn, default_timeout, "setup")
          check_abort(e)
          if not ok1 and setup_ok then setup_ok, setup_err = false, e end
        end
      end
      if setup_ok then
        for _, c in ipairs(block.children) do
          if c.kind == "block" then exec_block(c.block) else run_test(c) end
        end
      else
        local msg, any = "setup failed: " .. error_text(readable(setup_err)), false
        for _, c in ipairs(block.children) do
          if c.kind == "test" and selected(full_name(c.block, c.name)) then emit(c, "failed", msg, 0); any = true end
        end
        if not any then emit({ name = "(setup)", block = block }, "failed", msg, 0) end
      end
      local function teardowns(list, kind)
        for _, fn in ipairs(list) do
          local ok1, e = run_fn(fn, default_timeout, kind)
          check_abort(e)
          if not ok1 then
            emit({ name = "(teardown)", block = block }, "failed", kind .. " failed: " .. error_text(readable(e)), 0)
          end
        end
      end
      if block.lazy_ok ~= nil then
        block.lazy_ok = nil
        teardowns(block.lazy_teardown, "lazy_teardown")
      end
      if not block.skip then teardowns(block.strict_teardown, "teardown") end
    end
    revert_spies(mark)
    -- busted's context pop_state: an expose block refreshes the enclosing
    -- insulate's snapshot, so what it changed survives that block
    state = table.remove(states)
    if block.envmode == "expose" and states[#states] then states[#states] = save_env() end
    if state then restore_env(state) end
  end

  collecting, current, running = false, nil, nil
  return loop.spawn(function()
    local ok, err = raw_pcall(exec_block, root)
    loop.onUnhandledRejection(nil)
    running, current_reject = nil, nil
    disarm()
    for _, e in ipairs(stray) do
      emit({ name = "(uncaught error)", block = root }, "failed", "uncaught error in a timer callback: " .. error_text(readable(e)), 0)
    end
    stray = {}
    if not ok then
      if err == ABORT then
        if opts.interrupted then opts.interrupted() end
      else
        error(err, 0)
      end
    end
    return counts
  end)
end

--- Install the globals (describe, it, expect, assert, spy, ...).
function T.install(env)
  env = env or _G
  env.describe, env.context = T.describe, T.describe
  env.insulate, env.expose = T.insulate, T.expose
  env.it, env.test, env.spec = T.it, T.it, T.it
  env.xit, env.xdescribe, env.pending = T.xit, T.xdescribe, T.pending
  env.before_each, env.beforeEach = T.before_each, T.before_each
  env.after_each, env.afterEach = T.after_each, T.after_each
  env.setup, env.before_all, env.beforeAll = T.setup, T.setup, T.setup
  env.strict_setup, env.lazy_setup = T.strict_setup, T.lazy_setup
  env.teardown, env.after_all, env.afterAll = T.teardown, T.teardown, T.teardown
  env.strict_teardown, env.lazy_teardown = T.strict_teardown, T.lazy_teardown
  env.finally, env.randomize = T.finally, T.randomize
  env.expect = setmetatable({ extend = T.extend }, { __call = function(_, v) return T.expect(v) end })
  env.assert = luassert
  env.spy, env.stub, env.mock, env.match = spy, stub, mock, match
  -- an error in a timer callback fails the running test instead of ending the file
  env.setTimeout = function(fn, ms, ...) return loop.setTimeout(guard(fn), ms, ...) end
  env.setInterval = function(fn, ms, ...) return loop.setInterval(guard(fn), ms, ...) end
  env.queueMicrotask = function(fn) return loop.queueMicrotask(guard(fn)) end
  -- os.exit inside a spec fails that test (Jest does the same for process.exit)
  if type(env.os) == "table" then
    env.os.exit = function(code)
      error(("os.exit(%s) called: a spec must not end the test run (the test fails instead)")
        :format(code == nil and "" or tostring(code)), 2)
    end
  end
end

T.assert, T.spy, T.stub, T.mock, T.match = luassert, spy, stub, mock, match
package.loaded["hype.test"] = T
package.loaded["luassert"] = luassert
package.loaded["luassert.spy"] = spy
package.loaded["luassert.stub"] = stub
package.loaded["luassert.mock"] = mock
package.loaded["luassert.match"] = match
package.loaded["say"] = say
package.loaded["busted"] = T
return T
