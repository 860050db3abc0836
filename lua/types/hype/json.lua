---@meta hype.json
-- require("hype.json"): strict RFC 8259 JSON, in Lua.

---@class hype.json
local json = {}

---Parse JSON text. Objects and arrays become tables, null becomes nil, integers stay
---integers. Raises "json: <what> at byte N" for anything RFC 8259 refuses.
---@param text string
---@return any
function json.decode(text) end

---Encode a value as JSON text. A table with keys exactly 1..n is an array, any other
---table an object (the empty table is {}). Raises for NaN, infinities, non-UTF-8
---strings, functions and cycles.
---@param value any
---@return string
function json.encode(value) end

return json
