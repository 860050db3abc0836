describe("never collected", function()
  it("x", function() end)
end)
this is not lua
