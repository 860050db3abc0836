-- a tiny library in the style of penlight's stringx, exercised by textutil_spec.lua
local M = {}

function M.split(s, sep)
  if type(s) ~= "string" then error("split: expected a string, got " .. type(s), 2) end
  sep = sep or ","
  local out, from = {}, 1
  while true do
    local i, j = s:find(sep, from, true)
    if not i then out[#out + 1] = s:sub(from); break end
    out[#out + 1] = s:sub(from, i - 1)
    from = j + 1
  end
  return out
end

function M.strip(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

function M.startswith(s, prefix) return s:sub(1, #prefix) == prefix end

function M.parse_kv(s)
  local out = {}
  for _, part in ipairs(M.split(s, ";")) do
    local k, v = part:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if not k then error({ code = "BAD_PAIR", part = part }) end
    out[k] = v
  end
  return out
end

function M.log(msg) return M.sink(msg) end
function M.sink(msg) return #msg end

return M
