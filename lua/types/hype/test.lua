---@meta hype.test
-- require("hype.test"): the Jest/busted-style test framework behind `hype test`.
-- In spec files (`*_spec.lua`, `*.test.lua`) its functions are globals: describe, it,
-- expect, assert (luassert), spy, stub, mock, match, hooks... (declared below).

---A Jest-style expectation. Negate with `.never` (or `["not"]`); `.resolves` /
---`.rejects` check a promise (return or await the result).
---@class hype.test.Expectation
---@field never hype.test.Expectation
---@field resolves hype.test.Expectation
---@field rejects hype.test.Expectation
local Expectation = {}
---@param expected any
function Expectation:toBe(expected) end
---@param expected any
function Expectation:toEqual(expected) end
---@param expected any
function Expectation:toStrictEqual(expected) end
function Expectation:toBeTruthy() end
function Expectation:toBeFalsy() end
function Expectation:toBeNil() end
function Expectation:toBeNull() end
function Expectation:toBeUndefined() end
function Expectation:toBeDefined() end
function Expectation:toBeNaN() end
---@param item any
function Expectation:toContain(item) end
---@param item any
function Expectation:toContainEqual(item) end
---@param pattern string Lua pattern.
function Expectation:toMatch(pattern) end
---@param expected? any Substring of the message, or the error value.
function Expectation:toThrow(expected) end
---@param expected? any
function Expectation:toThrowError(expected) end
---@param expected number
---@param digits? integer
function Expectation:toBeCloseTo(expected, digits) end
---@param n integer
function Expectation:toHaveLength(n) end
---@param n number
function Expectation:toBeGreaterThan(n) end
---@param n number
function Expectation:toBeGreaterThanOrEqual(n) end
---@param n number
function Expectation:toBeLessThan(n) end
---@param n number
function Expectation:toBeLessThanOrEqual(n) end
---@param t type
function Expectation:toBeType(t) end
---@param cls table
function Expectation:toBeInstanceOf(cls) end
---@param key any Key or dotted path.
---@param value? any
function Expectation:toHaveProperty(key, value) end
function Expectation:toHaveBeenCalled() end
---@param n integer
function Expectation:toHaveBeenCalledTimes(n) end
function Expectation:toHaveBeenCalledWith(...) end
function Expectation:toHaveBeenLastCalledWith(...) end
---@param value any
function Expectation:toHaveReturnedWith(value) end

---A spy (luassert): callable, records its calls.
---@class hype.test.Spy
---@field calls table[]
---@field returnvals table[]
local Spy = {}
---@return hype.test.Spy
function Spy:clear() end
function Spy:revert() end
---@param n? integer
---@return boolean
function Spy:called(n) end
---@return boolean
function Spy:called_with(...) end
---@return boolean
function Spy:returned_with(...) end
---@return hype.test.Spy
function Spy:returns(...) end
---@param fn function
---@return hype.test.Spy
function Spy:invokes(fn) end

---@class hype.test.SpyModule
---@overload fun(fn?: function): hype.test.Spy
---@field new fun(fn?: function): hype.test.Spy
---@field on fun(target: table, key: string): hype.test.Spy
---@field is_spy fun(v: any): boolean

---@class hype.test.StubModule
---@overload fun(target?: table, key?: string, ...): hype.test.Spy
---@field new fun(target?: table, key?: string, ...): hype.test.Spy

---@class hype.test.MockModule
---@overload fun(tbl: table, dostub?: boolean): table
---@field revert fun(tbl: table)
---@field clear fun(tbl: table)

---A test result given to `run`'s `report`.
---@class hype.test.Result
---@field name string
---@field full_name string
---@field status "passed"|"failed"|"pending"
---@field message? string
---@field duration_ms number
---@field path? string

---@class hype.test.RunOptions
---@field filter? string Lua pattern or plain text on the full name.
---@field timeout? number Default test timeout (ms).
---@field tags? string Comma-separated tag names (#tag in test names).
---@field exclude_tags? string
---@field report? fun(result: hype.test.Result)
---@field deadline? fun(seconds: number|nil, message: string)
---@field interrupted? fun()

---@class hype.test
---@field assert table luassert (callable like the builtin assert).
---@field spy hype.test.SpyModule
---@field stub hype.test.StubModule
---@field mock hype.test.MockModule
---@field match table luassert's matchers (match.is_string(), match._, ...).
---@field matchers table<string, fun(actual: any, ...): boolean, string?, string?> expect's matchers.
---@field say table The `say` message registry (luassert).
local T = {}

---A block of tests (also `context`); its body runs when the runner reaches it.
---@param name string
---@param fn fun()
function T.describe(name, fn) end
---A block that restores _G and package.loaded when it ends.
---@param name string
---@param fn fun()
function T.insulate(name, fn) end
---A block whose global changes outlive the enclosing insulate.
---@param name string
---@param fn fun()
function T.expose(name, fn) end
---A skipped block.
---@param name string
---@param fn? fun()
function T.xdescribe(name, fn) end
---A test (also `test`, `spec`). A fn taking a parameter gets `done`; it may also return
---a promise or `await`. timeout in ms (default 5000).
---@param name string
---@param fn fun(done?: fun(err?: any))
---@param timeout? number
function T.it(name, fn, timeout) end
---A skipped test.
---@param name string
function T.xit(name) end
---Register a pending test; inside a running test, stop it and report it pending.
---@param name string
function T.pending(name) end
---Inside an it(): run fn after the body, passed or failed.
---@param fn fun()
function T.finally(fn) end
---Accepted for busted compatibility; tests keep their order.
function T.randomize() end
---Run before each test of the block (also `beforeEach`); `(fn)` or `(name, fn)`.
---@param name string|fun()
---@param fn? fun()
function T.before_each(name, fn) end
---@param name string|fun()
---@param fn? fun()
function T.after_each(name, fn) end
---Before the block's tests (also `before_all`, `beforeAll`).
---@param name string|fun()
---@param fn? fun()
function T.setup(name, fn) end
---@param name string|fun()
---@param fn? fun()
function T.strict_setup(name, fn) end
---Before the block's first test that runs (skipped when none runs).
---@param name string|fun()
---@param fn? fun()
function T.lazy_setup(name, fn) end
---After the block's tests (also `after_all`, `afterAll`).
---@param name string|fun()
---@param fn? fun()
function T.teardown(name, fn) end
---@param name string|fun()
---@param fn? fun()
function T.strict_teardown(name, fn) end
---@param name string|fun()
---@param fn? fun()
function T.lazy_teardown(name, fn) end

---A Jest-style expectation of `actual`.
---@param actual any
---@return hype.test.Expectation
function T.expect(actual) end
---Add matchers: `{ name = function(actual, ...) return pass, msg, negmsg end }`.
---@param matchers table<string, fun(actual: any, ...): boolean, string?, string?>
function T.extend(matchers) end
---Add a luassert assertion.
---@param name string
---@param fn function
function T.register_assertion(name, fn) end
---Fail the running test with `msg`.
---@param msg any
function T.fail(msg) end
---A readable rendering of any value.
---@param v any
---@param depth? integer
---@return string
function T.inspect(v, depth) end
---Deep equality (strict: also metatables and integer/float).
---@param a any
---@param b any
---@param strict? boolean
---@return boolean
function T.deep_equal(a, b, strict) end
---Start collecting a new suite (for `file`).
---@param file? string
function T.reset(file) end
---Names of every test (collection only, no hooks).
---@return string[]
function T.list() end
---Run the suite; a promise of `{ passed, failed, pending }`.
---@param opts? hype.test.RunOptions
---@return Promise
function T.run(opts) end
---Install the globals (describe, it, expect, assert, spy, ...) into `env` (default _G).
---@param env? table
function T.install(env) end

return T
