-- Deliberately failing spec: NOT collected by pytest (the plugin is opt-in);
-- tests/testing/test_runner.py runs it through `hype test` and checks the reports.
describe("failures", function()
  it("passes", function() expect(1):toBe(1) end)
  it("fails an expectation", function() expect({ 1, 2 }):toEqual({ 1, 3 }) end)
  it("fails a luassert assertion", function() assert.are.same({ a = 1 }, { a = 2 }) end)
  it("raises an error", function() error("kaboom") end)
  it("times out", function(done) end, 30)
  it("rejects the returned promise", function() return Promise.reject("rejected!") end)
  it("calls done with an error", function(done) setTimeout(function() done("done error") end, 1) end)
  it("leaves an unhandled rejection", function() Promise.reject("dangling") end)
  pending("is pending")
end)

describe("a failing hook", function()
  before_each(function() error("hook broke") end)
  it("reports the hook error", function() end)
end)
