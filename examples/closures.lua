-- Closures keep their upvalues; recursive functions keep their self-reference;
-- C functions are stored by name.
local rate = 0.2
Memory.tax = function(amount) return amount * rate end

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
Memory.fib = fib
Memory.sin = math.sin

print(Memory.tax(100), Memory.fib(20), Memory.sin(0))
for key, value in pairs(Memory) do print(key, type(value)) end
