-- A busted spec in the style of penlight's / inspect.lua's suites, unmodified busted 2 syntax.
local textutil = require("textutil")

describe("textutil", function()
  local snapshot

  before_each(function()
    snapshot = assert:snapshot()
  end)

  after_each(function()
    snapshot:revert()
  end)

  describe("split()", function()
    it("splits on commas by default", function()
      assert.are.same({ "a", "b", "c" }, textutil.split("a,b,c"))
    end)

    it("keeps empty fields", function()
      assert.are.same({ "", "a", "" }, textutil.split(",a,"))
      assert.are_not.same({ "a" }, textutil.split(",a,"))
    end)

    it("splits on a plain separator", function()
      assert.same({ "x", "y" }, textutil.split("x.y", "."))
    end)

    it("rejects non-strings", function()
      assert.has_error(function() textutil.split(42) end, "split: expected a string, got number")
      assert.error_matches(function() textutil.split(nil) end, "expected a string")
    end)
  end)

  describe("strip() and startswith()", function()
    it("strips both ends", function()
      assert.are.equal("hi", textutil.strip("  hi \t"))
    end)
    it("checks prefixes", function()
      assert.is_true(textutil.startswith("hello", "he"))
      assert.is_false(textutil.startswith("hello", "lo"))
    end)
  end)

  describe("parse_kv()", function()
    local parsed

    setup(function()
      parsed = textutil.parse_kv("a = 1; b=two ;c= 3 ")
    end)

    teardown(function()
      parsed = nil
    end)

    it("parses pairs", function()
      assert.are.same({ a = "1", b = "two", c = "3" }, parsed)
    end)

    it("raises error tables", function()
      assert.has_error(function() textutil.parse_kv("a=1;oops") end, { code = "BAD_PAIR", part = "oops" })
    end)
  end)

  describe("spies, stubs and mocks", function()
    it("spies on a module function", function()
      local s = spy.on(textutil, "sink")
      assert.are.equal(5, textutil.log("hello"))
      assert.spy(s).was.called(1)
      assert.spy(textutil.sink).was.called_with("hello")
    end)

    it("the snapshot reverted the spy", function()
      assert.is_false(spy.is_spy(textutil.sink))
    end)

    it("stubs a function", function()
      stub(textutil, "sink").returns(99)
      assert.are.equal(99, textutil.log("x"))
      assert.stub(textutil.sink).was.called_with("x")
    end)

    it("mocks the module", function()
      local m = mock(textutil, true) -- stubs every function
      assert.is_nil(m.strip("  x "))
      assert.stub(m.strip).was.called(1)
    end)

    it("everything is real again", function()
      assert.are.equal("x", textutil.strip("  x "))
      assert.are.equal(1, textutil.log("x"))
    end)

    it("cleans up with finally", function()
      local original = textutil.sink
      textutil.sink = function() return -1 end
      finally(function() textutil.sink = original end)
      assert.are.equal(-1, textutil.log("abc"))
    end)

    it("finally restored the function", function()
      assert.are.equal(3, textutil.log("abc"))
    end)
  end)
end)
