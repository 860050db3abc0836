-- hype.storage: the Lua surface of the storage engine (SPEC section 2).
--
--   local users = storage.table("users")           -- external table proxy
--   users.u1 = { name = "Ann", age = 31 }
--   storage.batch({ { type = "set", table = "users", key = "u2", value = { age = 40 } } })  -- atomic
--   storage.transaction(function() users.a = 1; users.b = 2 end)                            -- atomic
--   storage.create_index("users", "age")             -- or {"last", "first"}, { unique = true }
--   for key, row in storage.query("users", { field = "age", operator = ">=", value = 25, limit = 10 }) do ... end
--   local page = storage.find("users", { ..., limit = 10 })  -- { rows = { {key=, value=}, ... }, cursor = ... }
--   storage.explain("users", spec)  storage.define_schema("users", schema, version)
--   storage.migrate("users", { [2] = function(key, row) ... return row end }, { schema = ... })
--   storage.stats()
--
-- Loaded by the Runtime with (host, external_api) as `...`; host functions raise
-- typed hypelua errors (catchable with pcall).

local host, api = ...
local external, invalidate, encode, revive = api.external, api.invalidate, api.encode, api.revive
local type, pcall, error, ipairs, pairs, tostring = type, pcall, error, ipairs, pairs, tostring
local math_type, floor = math.type, math.floor

local storage = {}

local fail = host.fail

-- a bad name fails here, typed (BAD_TABLE_NAME), not at the first use of the proxy
function storage.table(name)
  if type(name) ~= "string" then
    fail("BAD_TABLE_NAME", "storage.table expects a table name (a non-empty string), not a " .. type(name))
  end
  host.check_table_name(name)
  return external(name)
end

local function encode_ops(ops)
  if type(ops) ~= "table" then fail("BAD_OPERATION", "storage.batch expects a list of operations") end
  local out = {}
  for i, op in ipairs(ops) do
    if type(op) == "table" and op.value ~= nil then
      local copy = {}
      for k, v in pairs(op) do copy[k] = v end
      copy.value = encode(op.value)
      out[i] = copy
    else
      out[i] = op
    end
  end
  return out
end

function storage.batch(ops)
  local ok, results = pcall(host.batch, encode_ops(ops))
  invalidate(nil)
  if not ok then error(results, 0) end
  for i = 1, #results do results[i] = revive(results[i]) end
  return results
end

local function finish_tx(ok, ...)
  if ok then
    host.commit_tx()
    invalidate(nil)
    return ...
  end
  host.rollback_tx()
  invalidate(nil)
  error((...), 0)
end

-- The host takes the database's write lock first (SQLite: BEGIN IMMEDIATE), then the
-- cached revived functions are dropped: reads inside fn see every commit made before,
-- also by other processes, and nobody else commits until fn returns.
function storage.transaction(fn)
  if type(fn) ~= "function" then fail("BAD_ARGUMENT", "storage.transaction expects a function") end
  host.begin_tx()
  invalidate(nil)
  return finish_tx(pcall(fn))
end

function storage.create_index(table_name, fields, opts)
  return host.create_index(table_name, fields, opts or {})
end

function storage.drop_index(table_name, name)
  return host.drop_index(table_name, name)
end

function storage.find(table_name, spec)
  local page = host.query(table_name, spec or {})
  for _, row in ipairs(page.rows) do row.value = revive(row.value) end
  return page
end

function storage.query(table_name, spec)
  local rows = storage.find(table_name, spec).rows
  local i = 0
  return function()
    i = i + 1
    local row = rows[i]
    if row ~= nil then return row.key, row.value end
  end
end

function storage.explain(table_name, spec)
  return host.explain(table_name, spec or {})
end

function storage.define_schema(table_name, schema, version)
  return host.define_schema(table_name, schema, version)
end

function storage.migrate(table_name, steps, opts)
  if type(steps) ~= "table" then fail("BAD_ARGUMENT", "storage.migrate expects a table of steps { [version] = fn }") end
  if opts ~= nil and type(opts) ~= "table" then
    fail("BAD_ARGUMENT", "storage.migrate's options must be a table { schema = ..., to_version = n }")
  end
  local list = {}
  for version, fn in pairs(steps) do
    if math_type(version) ~= "integer" and not (math_type(version) == "float" and version == floor(version)) then
      fail("BAD_ARGUMENT", "migration step versions must be integers, not " .. tostring(version))
    end
    if type(fn) ~= "function" then
      fail("BAD_ARGUMENT", "migration step " .. tostring(version) .. " must be a function(key, row), not a " .. type(fn))
    end
    list[#list + 1] = { version, function(key, row)
      local new = fn(key, revive(row))
      if new == nil then return nil end
      return encode(new)
    end }
  end
  local ok, result = pcall(host.migrate, table_name, list, opts or {})
  invalidate(nil)
  if not ok then error(result, 0) end
  return result
end

function storage.stats()
  return host.stats()
end

return storage
