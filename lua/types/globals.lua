---@meta
-- LuaLS annotations for the globals hypelua installs (storage, external tables, promises,
-- async/await, timers). Not loaded at run time: `hype init` points .luarc.json here.

---An external table: a persistent key -> value map (SQLite natively, IndexedDB in the
---browser). Assignments persist at once, functions included (bytecode + source,
---upvalues re-bound). Keys: strings or integers. Values: nil, booleans, numbers,
---strings, tables without cycles, functions. `pairs(t)` walks the stored rows.
---Every free global name resolves to the external table of that name (`Memory`, `Users`, ...).
---@class hype.ExternalTable
---@field [string|integer] any

---The default external table (any free global name is one too).
---@type hype.ExternalTable
Memory = {}

---A row returned by `storage.find`.
---@class hype.storage.Row
---@field key string|integer
---@field value any

---A page of `storage.find` results.
---@class hype.storage.Page
---@field rows hype.storage.Row[]
---@field cursor any|nil Pass as `spec.cursor` for the next page (nil: no more rows).

---A query over one table (`storage.query` / `storage.find` / `storage.explain`).
---@class hype.storage.QuerySpec
---@field field? string|string[] Indexed field (or compound index fields).
---@field operator? "="|"!="|"<"|"<="|">"|">="|"in"|"between"|"prefix"|"contains"
---@field value? any
---@field limit? integer
---@field offset? integer
---@field order? "asc"|"desc"
---@field cursor? any

---A batch operation: `{ type = "set"|"delete", table = name, key = k, value = v }`.
---@class hype.storage.Operation
---@field type "set"|"delete"|string
---@field table string
---@field key string|integer
---@field value? any

---The storage engine's Lua surface (also `require("hype.storage")`).
---@class hype.storage
storage = {}

---The external table `name` (created on first write). Raises BAD_TABLE_NAME.
---@param name string
---@return hype.ExternalTable
function storage.table(name) end

---Apply operations atomically (all or none); returns one result per operation.
---@param ops hype.storage.Operation[]
---@return any[]
function storage.batch(ops) end

---Run `fn` holding the database's write lock; its writes commit together, or roll back
---when it raises (the error is re-raised). Returns fn's results.
---@generic R
---@param fn fun(): R
---@return R
function storage.transaction(fn) end

---Create an index on one field or a list of fields (compound).
---@param table_name string
---@param fields string|string[]
---@param opts? { unique?: boolean, kind?: "btree" }
---@return string name The index name: the fields joined by "+".
function storage.create_index(table_name, fields, opts) end

---Drop an index by name (or by its fields).
---@param table_name string
---@param name string|string[]
---@return boolean
function storage.drop_index(table_name, name) end

---One page of a query: `{ rows = { {key=, value=}, ... }, cursor = ... }`.
---@param table_name string
---@param spec? hype.storage.QuerySpec
---@return hype.storage.Page
function storage.find(table_name, spec) end

---Iterate a query: `for key, row in storage.query("users", spec) do ... end`.
---@param table_name string
---@param spec? hype.storage.QuerySpec
---@return fun(): (string|integer|nil), any
function storage.query(table_name, spec) end

---How a query would run (the index it uses, the plan).
---@param table_name string
---@param spec? hype.storage.QuerySpec
---@return table
function storage.explain(table_name, spec) end

---Attach a JSON Schema to a table (validated on every write), at a version.
---@param table_name string
---@param schema table
---@param version? integer
---@return any
function storage.define_schema(table_name, schema, version) end

---Migrate every row through `steps[version](key, row) -> new_row|nil` (nil deletes),
---from the table's version up; atomic.
---@param table_name string
---@param steps table<integer, fun(key: string|integer, row: any): any>
---@param opts? { schema?: table, to_version?: integer }
---@return any
function storage.migrate(table_name, steps, opts) end

---Statistics about the database (tables, rows, sizes, indices).
---@return table
function storage.stats() end

--------------------------------------------------------------------------- promises

---A Promise/A+ promise. `then` is a Lua keyword: use `p:next(onF, onR)` (or `p["then"]`).
---@class Promise
---@field ["then"] fun(self: Promise, onFulfilled?: fun(value: any): any, onRejected?: fun(reason: any): any): Promise Alias of `Promise:next` (thenables).
Promise = {}

---Chain handlers; returns a new promise of the handler's result.
---@param onFulfilled? fun(value: any): any
---@param onRejected? fun(reason: any): any
---@return Promise
function Promise:next(onFulfilled, onRejected) end

---Alias of `Promise:next`.
---@param onFulfilled? fun(value: any): any
---@param onRejected? fun(reason: any): any
---@return Promise
function Promise:andThen(onFulfilled, onRejected) end

---`p:catch(fn)` is `p:next(nil, fn)`.
---@param onRejected fun(reason: any): any
---@return Promise
function Promise:catch(onRejected) end

---Run `fn()` when the promise settles, passing the outcome through.
---@param onFinally fun()
---@return Promise
function Promise:finally(onFinally) end

---Inspect a promise: its state and, once settled, its value or reason.
---@return "pending"|"fulfilled"|"rejected" state
---@return any value
function Promise:status() end

---`Promise.new(function(resolve, reject) ... end)`
---@param executor fun(resolve: fun(value?: any), reject: fun(reason?: any))
---@return Promise
function Promise.new(executor) end

---A pending promise and its resolve/reject functions (a deferred).
---@return Promise promise
---@return fun(value?: any) resolve
---@return fun(reason?: any) reject
function Promise.withResolvers() end

---A promise fulfilled with `v` (or following `v` when it is a promise/thenable).
---@param v? any
---@return Promise
function Promise.resolve(v) end

---A promise rejected with `r`.
---@param r? any
---@return Promise
function Promise.reject(r) end

---Is `v` a hype Promise?
---@param v any
---@return boolean
function Promise.is(v) end

---Fulfils with the list of values once all fulfil; rejects with the first rejection.
---@param list any[]
---@return Promise
function Promise.all(list) end

---Fulfils with `{ status = "fulfilled"|"rejected", value =, reason = }` per entry.
---@param list any[]
---@return Promise
function Promise.allSettled(list) end

---Settles like the first entry that settles.
---@param list any[]
---@return Promise
function Promise.race(list) end

---Fulfils with the first fulfilment; rejects with an AggregateError when all reject.
---@param list any[]
---@return Promise
function Promise.any(list) end

---`async(fn)` -> a function returning a Promise of fn's first result; inside, `await` suspends.
---@param fn async fun(...): any
---@return fun(...): Promise
function async(fn) end

---Suspend the current async function (or actor process) until `v` settles; returns
---its value or raises its reason. `v` may be a promise, a thenable or a plain value.
---@async
---@param v any
---@return any
function await(v) end

--------------------------------------------------------------------------- timers

---A timer handle (`setTimeout` / `setInterval`).
---@class hype.Timer
---@field id integer
local Timer = {}

---Stop this timer from keeping `hype run` alive.
---@return hype.Timer
function Timer:unref() end

---Let this timer keep `hype run` alive again (the default).
---@return hype.Timer
function Timer:ref() end

---@return boolean
function Timer:hasRef() end

---Call `fn(...)` once after `ms` milliseconds (ms < 1 counts as 1, like Node).
---@param fn fun(...)
---@param ms? number
---@param ... any
---@return hype.Timer
function setTimeout(fn, ms, ...) end

---Call `fn(...)` every `ms` milliseconds until cleared.
---@param fn fun(...)
---@param ms? number
---@param ... any
---@return hype.Timer
function setInterval(fn, ms, ...) end

---Cancel a timeout or an interval (unknown ids are ignored).
---@param timer hype.Timer|integer|nil
function clearTimeout(timer) end

---Same as `clearTimeout`.
---@param timer hype.Timer|integer|nil
function clearInterval(timer) end

---Run `fn()` as a microtask (after the current job, before timers and I/O).
---@param fn fun()
function queueMicrotask(fn) end

--------------------------------------------------------------------------- spec files
-- Globals `hype test` installs in spec files (require("hype.test").install()).

describe = require("hype.test").describe
context = require("hype.test").describe
insulate = require("hype.test").insulate
expose = require("hype.test").expose
it = require("hype.test").it
test = require("hype.test").it
spec = require("hype.test").it
xit = require("hype.test").xit
xdescribe = require("hype.test").xdescribe
pending = require("hype.test").pending
before_each = require("hype.test").before_each
beforeEach = require("hype.test").before_each
after_each = require("hype.test").after_each
afterEach = require("hype.test").after_each
setup = require("hype.test").setup
before_all = require("hype.test").setup
beforeAll = require("hype.test").setup
strict_setup = require("hype.test").strict_setup
lazy_setup = require("hype.test").lazy_setup
teardown = require("hype.test").teardown
after_all = require("hype.test").teardown
afterAll = require("hype.test").teardown
strict_teardown = require("hype.test").strict_teardown
lazy_teardown = require("hype.test").lazy_teardown
finally = require("hype.test").finally
randomize = require("hype.test").randomize
spy = require("hype.test").spy
stub = require("hype.test").stub
mock = require("hype.test").mock
match = require("hype.test").match

---A Jest-style expectation (`expect(x):toBe(y)`); `expect.extend{...}` adds matchers.
---@class hype.test.ExpectFn
---@overload fun(actual: any): hype.test.Expectation
---@field extend fun(matchers: table<string, fun(actual: any, ...): boolean, string?, string?>)

---@type hype.test.ExpectFn
expect = nil
