test("the .test.lua suffix is collected too", function()
  expect(2 ^ 10):toBe(1024.0)
end)
