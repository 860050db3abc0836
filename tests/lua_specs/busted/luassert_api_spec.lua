-- luassert's extension API as real suites use it: say + assert:register,
-- longest-match of registered names, error assertions returning the error.
local say = require("say")

local function has_property(state, arguments)
  return type(arguments[1]) == "table" and arguments[1][arguments[2]] ~= nil
end
say:set("assertion.has_property.positive", "Expected %s\nto have property: %s")
say:set("assertion.has_property.negative", "Expected %s\nto not have property: %s")
assert:register("assertion", "has_property", has_property,
  "assertion.has_property.positive", "assertion.has_property.negative")

-- a name starting with a modifier word is one assertion (luassert's extract_keys)
assert:register("assertion", "is_even", function(_, args) return args[1] % 2 == 0 end)

describe("custom assertions", function()
  it("pass and negate", function()
    assert.has_property({ name = "x" }, "name")
    assert.is_not.has_property({}, "name")
    assert.is_even(4)
    assert.is_not.is_even(3)
  end)
  it("fail with the say message and formatted arguments", function()
    assert.has_property({}, "name")
  end)
  it("fail negated with the negative message", function()
    assert.no.has_property({ name = 1 }, "name")
  end)
end)

describe("luassert details", function()
  it("has_error returns the error; error_matches sees it without its position", function()
    local err = assert.has_error(function() error({ code = 7 }) end)
    assert.are.same({ code = 7 }, err)
    assert.error_matches(function() error("boom here") end, "^boom")
    assert.has_error(function() error(setmetatable({}, { __tostring = function() return "obj" end })) end, "obj")
    assert.has_no.errors(function() end)
    assert.returned_arguments(2, (function() return 1, nil end)())
    assert.unique({ 1, 2, 3 }, "a message, not the deep flag")
    assert.matches("^4", 42)
  end)
  it("prefixes assert.message(...) to the failure", function()
    assert.message("custom context").is_true(false)
  end)
  it("set_parameter / get_parameter and formatters", function()
    assert:set_parameter("TableFormatLevel", 1)
    assert.are.equal(1, assert:get_parameter("TableFormatLevel"))
    local f = function(v) if v == "secret" then return "<hidden>" end end
    assert:add_formatter(f)
    assert:remove_formatter(f)
  end)
end)
