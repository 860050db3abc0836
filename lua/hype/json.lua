-- hype.json: RFC 8259 JSON in Lua, strict, for request and response bodies.
--
--   local json = require("hype.json")
--   local t = json.decode('{"a": [1, 2.5, "x"], "b": null}')   -- { a = { 1, 2.5, "x" } }
--   json.encode({ a = { 1, 2 }, b = "é" })                      -- '{"a":[1,2],"b":"é"}'
--
-- Decoding: objects and arrays become tables, null becomes nil (absent; like
-- Python's None crossing into Lua), integers without fraction or exponent become
-- Lua integers (floats beyond 2^63), strings must be valid UTF-8.  Errors (raised
-- as "json: <what> at byte N") for anything RFC 8259 refuses: trailing text,
-- NaN/Infinity, leading zeros, bad escapes, lone surrogates, nesting deeper than
-- 512 (raw control characters inside strings are accepted, as Python's json does
-- with strict=False: checking for them would cost a slow pattern scan per string).
-- Encoding: a table whose keys are exactly 1..n (n >= 1) is an array, any other
-- table an object (the empty table is {}); keys are strings or numbers (written as
-- strings); floats keep a fraction ("1.0") so they decode as floats again; NaN,
-- infinities, non-UTF-8 strings, functions and cycles are errors.
--
-- It lives in Lua so a body never crosses the Python bridge as a tree of values
-- (SPEC 1 rule 3): one string in, one string out.
local byte, sub, find, char, format, gsub, concat = string.byte, string.sub, string.find, string.char,
  string.format, string.gsub, table.concat
local type, tostring, tonumber, pairs, error, select = type, tostring, tonumber, pairs, error, select
local math_type, tointeger, huge, floor = math.type, math.tointeger, math.huge, math.floor
local utf8_char, utf8_len = utf8.char, utf8.len

local M = {}
local MAX_DEPTH = 512

---------------------------------------------------------------------- decode
local decode_value

local function fail(str, pos, what)
  error(format("json: %s at byte %d", what, pos), 0)
end

local ESC = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r",
  [116] = "\t" }

-- position of the next backslash at or after the last search (false: none left);
-- decode() is synchronous, so one cursor per module is enough
local next_bs = false

local function decode_string(str, pos)
  -- pos: the opening quote.  Fast path (plain searches, no pattern classes): the
  -- closing quote comes before the next backslash.
  local first = pos + 1
  local q = find(str, '"', first, true)
  if q == nil then fail(str, pos, "unterminated string") end
  if next_bs and next_bs < first then next_bs = find(str, "\\", first, true) or false end
  if not next_bs or next_bs > q then return sub(str, first, q - 1), q + 1 end
  local parts, n = {}, 0
  local i = first
  while true do
    local stop = find(str, '["\\]', i)
    if stop == nil then fail(str, pos, "unterminated string") end
    local c = byte(str, stop)
    if stop > i then n = n + 1; parts[n] = sub(str, i, stop - 1) end
    if c == 34 then
      next_bs = find(str, "\\", stop + 1, true) or false
      return concat(parts), stop + 1
    end
    local e = byte(str, stop + 1)
    local simple = ESC[e]
    if simple then
      n = n + 1; parts[n] = simple
      i = stop + 2
    elseif e == 117 then -- \uXXXX
      local hex = sub(str, stop + 2, stop + 5)
      local cp = #hex == 4 and find(hex, "^%x%x%x%x$") and tonumber(hex, 16)
      if not cp then fail(str, stop, "invalid \\u escape") end
      i = stop + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = sub(str, i, i + 1) == "\\u" and sub(str, i + 2, i + 5)
        local low = lo and find(lo, "^%x%x%x%x$") and tonumber(lo, 16)
        if not low or low < 0xDC00 or low > 0xDFFF then fail(str, stop, "lone surrogate in \\u escape") end
        cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
        i = i + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        fail(str, stop, "lone surrogate in \\u escape")
      end
      n = n + 1; parts[n] = utf8_char(cp)
    else
      fail(str, stop, "invalid escape")
    end
  end
end

local function decode_number(str, pos)
  local s, e = find(str, "^-?%d+", pos)
  if s == nil then fail(str, pos, "unexpected character") end
  local int_digits = byte(str, s) == 45 and s + 1 or s
  if e > int_digits and byte(str, int_digits) == 48 then fail(str, pos, "leading zero in a number") end
  local is_float = false
  local fe = select(2, find(str, "^%.%d+", e + 1))
  if fe then e = fe; is_float = true end
  local xe = select(2, find(str, "^[eE][-+]?%d+", e + 1))
  if xe then e = xe; is_float = true end
  local text = sub(str, pos, e)
  local v
  if is_float then v = tonumber(text)
  else
    v = tointeger(tonumber(text))
    if v == nil then v = tonumber(text) + 0.0 end -- beyond 64 bits: a float, like Lua's own reader
  end
  return v, e + 1
end

local function skip(str, pos)
  return find(str, "[^ \t\r\n]", pos) or #str + 1
end

decode_value = function(str, pos, depth)
  pos = skip(str, pos)
  local c = byte(str, pos)
  if c == 34 then return decode_string(str, pos) end
  if c == 123 then -- {
    if depth >= MAX_DEPTH then fail(str, pos, "nesting too deep") end
    local t = {}
    pos = skip(str, pos + 1)
    if byte(str, pos) == 125 then return t, pos + 1 end
    while true do
      if byte(str, pos) ~= 34 then fail(str, pos, "expected a string key") end
      local k
      k, pos = decode_string(str, pos)
      pos = skip(str, pos)
      if byte(str, pos) ~= 58 then fail(str, pos, "expected ':'") end
      local v
      v, pos = decode_value(str, pos + 1, depth + 1)
      t[k] = v
      pos = skip(str, pos)
      c = byte(str, pos)
      if c == 125 then return t, pos + 1 end
      if c ~= 44 then fail(str, pos, "expected ',' or '}'") end
      pos = skip(str, pos + 1)
    end
  end
  if c == 91 then -- [
    if depth >= MAX_DEPTH then fail(str, pos, "nesting too deep") end
    local t, n = {}, 0
    pos = skip(str, pos + 1)
    if byte(str, pos) == 93 then return t, pos + 1 end
    while true do
      local v
      v, pos = decode_value(str, pos, depth + 1)
      n = n + 1
      t[n] = v
      pos = skip(str, pos)
      c = byte(str, pos)
      if c == 93 then return t, pos + 1 end
      if c ~= 44 then fail(str, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  end
  if c == 116 and sub(str, pos, pos + 3) == "true" then return true, pos + 4 end
  if c == 102 and sub(str, pos, pos + 4) == "false" then return false, pos + 5 end
  if c == 110 and sub(str, pos, pos + 3) == "null" then return nil, pos + 4 end
  if c == nil then fail(str, pos, "unexpected end of input") end
  return decode_number(str, pos)
end

--- json.decode(text) -> value; raises "json: ..." for malformed text
function M.decode(str)
  if type(str) ~= "string" then error("json.decode: expected a string, got " .. type(str), 2) end
  if not utf8_len(str) then error("json: the text is not valid UTF-8", 0) end
  next_bs = find(str, "\\", 1, true) or false
  local v, pos = decode_value(str, 1, 0)
  pos = skip(str, pos)
  if pos <= #str then fail(str, pos, "trailing characters") end
  return v
end

---------------------------------------------------------------------- encode
local ESCAPE = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t" }
for i = 0, 31 do
  local ch = char(i)
  if not ESCAPE[ch] then ESCAPE[ch] = format("\\u%04x", i) end
end

local function encode_string(s)
  if not utf8_len(s) then error("json.encode: a string is not valid UTF-8", 0) end
  -- %q (C) escapes exactly the quote, backslash and control characters: when it only
  -- added the two quotes, there is nothing to escape (no slow pattern-class scan)
  if #format("%q", s) ~= #s + 2 then s = gsub(s, '[%z\1-\31"\\]', ESCAPE) end
  return '"' .. s .. '"'
end

local function encode_number(v)
  if math_type(v) == "integer" then return tostring(v) end
  if v ~= v or v == huge or v == -huge then error("json.encode: NaN and infinities are not JSON", 0) end
  if v == floor(v) and v > -1e16 and v < 1e16 then return format("%.1f", v) end
  local s = format("%.15g", v)
  if tonumber(s) ~= v then s = format("%.17g", v) end
  if not find(s, "[.eE]") then s = s .. ".0" end -- a float stays a float when read back
  return s
end

local encode_table

local function encode_value(v, buf, n, depth, seen)
  local t = type(v)
  if t == "string" then n = n + 1; buf[n] = encode_string(v); return n end
  if t == "number" then n = n + 1; buf[n] = encode_number(v); return n end
  if t == "boolean" then n = n + 1; buf[n] = v and "true" or "false"; return n end
  if t == "nil" then n = n + 1; buf[n] = "null"; return n end
  if t == "table" then return encode_table(v, buf, n, depth, seen) end
  error("json.encode: cannot encode a " .. t .. " value", 0)
end

encode_table = function(v, buf, n, depth, seen)
  if seen[v] then error("json.encode: the table contains a cycle", 0) end
  if depth >= MAX_DEPTH then error("json.encode: nesting too deep", 0) end
  local len = #v
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  seen[v] = true
  if len > 0 and count == len then
    n = n + 1; buf[n] = "["
    for i = 1, len do
      if i > 1 then n = n + 1; buf[n] = "," end
      n = encode_value(v[i], buf, n, depth + 1, seen)
    end
    n = n + 1; buf[n] = "]"
  else
    n = n + 1; buf[n] = "{"
    local first = true
    for k, val in pairs(v) do
      local kt = type(k)
      local key
      if kt == "string" then key = encode_string(k)
      elseif kt == "number" then key = '"' .. (math_type(k) == "integer" and tostring(k) or encode_number(k)) .. '"'
      else error("json.encode: an object key must be a string or a number, not a " .. kt, 0) end
      if not first then n = n + 1; buf[n] = "," end
      first = false
      n = n + 1; buf[n] = key
      n = n + 1; buf[n] = ":"
      n = encode_value(val, buf, n, depth + 1, seen)
    end
    n = n + 1; buf[n] = "}"
  end
  seen[v] = nil
  return n
end

--- json.encode(value) -> text; raises "json.encode: ..." for values JSON cannot hold
function M.encode(v)
  local t = type(v)
  if t == "string" then return encode_string(v) end
  if t == "number" then return encode_number(v) end
  local buf = {}
  local n = encode_value(v, buf, 0, 0, {})
  return concat(buf, "", 1, n)
end

return M
