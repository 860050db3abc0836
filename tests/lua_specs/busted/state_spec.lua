-- busted runs a describe body when the runner reaches it: a body sees the state
-- that the tests and hooks of the blocks before it left.
local shared = "initial"
local counter = 0

describe("first block", function()
  setup(function() shared = "from first setup" end)
  before_each(function() counter = counter + 1 end)
  it("runs its tests", function() assert.are.equal("from first setup", shared) end)
  it("counts", function() assert.are.equal(2, counter) end)
end)

describe("second block", function()
  local seen_shared, seen_counter = shared, counter -- evaluated after "first block" ran
  it("saw the first block's setup from its body", function()
    assert.are.equal("from first setup", seen_shared)
    assert.are.equal(2, seen_counter)
  end)
end)

describe("a block whose body is evaluated lazily", function()
  local cases = {}
  for i = 1, counter do cases[#cases + 1] = i end -- counter is 2 by now
  for _, n in ipairs(cases) do
    it("generated test " .. n, function() assert.is_number(n) end)
  end
end)

insulate("an insulate block", function()
  expose("an expose block inside it", function()
    it("sets a global", function()
      EXPOSED_GLOBAL = "kept"
      assert.are.equal("kept", EXPOSED_GLOBAL)
    end)
  end)
  it("sets globals and loads modules after the expose block", function()
    LEAKED_GLOBAL = "set in insulate"
    package.loaded["fake.module"] = { loaded = true }
    assert.is_true(require("fake.module").loaded)
  end)
  it("still sees them in the same block", function()
    assert.are.equal("set in insulate", LEAKED_GLOBAL)
  end)
end)

describe("after the insulate block", function()
  it("the insulated globals and modules are gone", function()
    assert.is_nil(LEAKED_GLOBAL)
    assert.is_nil(package.loaded["fake.module"])
  end)
  it("the exposed global survived the enclosing insulate", function()
    assert.are.equal("kept", EXPOSED_GLOBAL)
  end)
end)

describe("curried and aliased forms", function()
  it "takes a curried function" (function() assert.is_true(true) end)
  spec("spec is it", function() end)
  test("test is it", function() end)
  context("context is describe", function()
    it("works", function() end)
  end)
  it("has no function yet")
end)

describe("tags #slow", function()
  it("is tagged slow through its describe", function() end)
  it("is tagged #fast too", function() end)
end)

describe("randomize is accepted", function()
  randomize()
  it("still runs", function() end)
end)
