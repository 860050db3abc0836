-- The PRD's example: a function persisted in the external table `Memory`.
-- First run defines it; every later run (same --database) just calls it.
--   hype run examples/memory_calculate.lua --database demo.db
if Memory.calculate == nil then
  Memory.calculate = function(x, y)
    return x * y + math.sin(x)
  end
  print("persisted Memory.calculate")
end
print("Memory.calculate(5, 3) =", Memory.calculate(5, 3))

-- plain data persists too; count how many times this script ran
Memory.runs = (Memory.runs or 0) + 1
print("runs so far:", Memory.runs)
