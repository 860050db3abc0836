-- Order of execution of busted 2's model (read by tests/testing/test_busted_model.py,
-- which prints and compares the ORDER line written by the file's teardown).
-- The expected order is derived from busted 2.2's busted/init.lua (`it`),
-- busted/block.lua (execute, execAll, dexecAll, execAllOnce, lazyTeardown).
local log = {}
local function rec(s) log[#log + 1] = s end

setup(function() rec("file setup") end)
teardown(function()
  rec("file teardown")
  print("ORDER " .. table.concat(log, ","))
end)
rec("file body")

describe("A", function()
  rec("A body")
  setup(function() rec("A setup") end)
  lazy_setup(function() rec("A lazy_setup") end)
  before_each(function() rec("A before_each") end)
  after_each(function() rec("A after_each") end)
  teardown(function() rec("A teardown") end)
  lazy_teardown(function() rec("A lazy_teardown") end)

  it("a1", function()
    rec("a1")
    finally(function() rec("a1 finally") end)
  end)

  describe("B", function()
    rec("B body")
    before_each("named hook", function() rec("B before_each") end)
    after_each(function() rec("B after_each") end)
    it("b1", function() rec("b1") end)
  end)

  it("a2", function() rec("a2") end)
end)

describe("C", function()
  rec("C body")
  lazy_setup(function() rec("C lazy_setup") end)     -- no test runs here: never called
  lazy_teardown(function() rec("C lazy_teardown") end) -- nor this
  pending("c1 is pending")
end)

describe("failures", function()
  rec("F body")
  describe("outer before_each fails", function()
    before_each(function() rec("F outer before"); error("outer before_each broke") end)
    after_each(function() rec("F outer after") end)
    describe("inner", function()
      before_each(function() rec("F inner before") end)
      after_each(function() rec("F inner after") end)
      it("does not run", function() rec("F body ran") end)
    end)
  end)
  describe("setup fails", function()
    setup(function() rec("F setup"); error("setup broke") end)
    teardown(function() rec("F teardown") end)
    it("is not run", function() rec("F setup test ran") end)
  end)
  it("fails in finally", function()
    finally(function() rec("F finally"); error("finally broke") end)
    rec("F test before finally")
  end)
  it("goes pending from inside", function()
    rec("F pending")
    pending("not today")
    rec("F after pending")
  end)
end)
