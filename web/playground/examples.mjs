// The playground's examples gallery: every entry runs (playwright/test_playground_editor.py).
// `action`: what "Run example" does: "run" (the buffer as a chunk), "http" (the buffer as the
// HTTP panel's app, then a request), "tests" (save the buffer as a spec, run it), "live" (save
// the buffer as a view file, mount it). `files` are written into the project on selection.

export const MEMORY_EXAMPLE = `-- hypelua playground: Lua 5.4 in a Web Worker (Pyodide), Ctrl+Enter runs.
-- Functions stored in external tables persist in IndexedDB across reloads
-- (the PRD example: persistFunction('Memory', 'calculate', ...)).

Memory.calculate = function(x, y)
  return x * y + math.sin(x)
end

print("Memory.calculate(5, 3) =", Memory.calculate(5, 3))
return Memory.calculate(5, 3), _VERSION
`;

const BATCHES_EXAMPLE = `-- Batches and queries: an atomic batch of writes, a B-tree index, an indexed query.
-- Open "Indices & queries" on the right to browse the table page by page.
local ops = {}
for i = 1, 120 do
  ops[#ops + 1] = { type = "set", table = "people", key = ("p%03d"):format(i),
                    value = { name = "person " .. i, age = 18 + (i * 7) % 60 } }
end
storage.batch(ops)                      -- all 120 rows or none
storage.create_index("people", "age")   -- idempotent: the same index again is fine

local n = 0
for key, row in storage.query("people", { field = "age", operator = ">=", value = 70, order = "asc", limit = 5 }) do
  n = n + 1
  print(key, row.name, row.age)
end
print(("%d rows of age >= 70 shown (limit 5)"):format(n))
return n
`;

const REQUIRE_EXAMPLE = `-- require and packages: selecting this example saved lib/greet.lua in the project
-- (see Files); require("./lib/greet") loads it. hype.install("name@range") adds
-- registry packages under hype_modules/ (needs ?registry=URL).
local greet = require("./lib/greet")
print(greet.hello("Lua"))
print(greet.shout("modules are cached"))
assert(require("./lib/greet") == greet, "the second require returns the cached module")
return greet.hello("world")
`;

const GREET_MODULE = `-- lib/greet.lua: a module of the project (the "require" example)
local M = {}

function M.hello(name)
  return ("Hello, %s!"):format(name)
end

function M.shout(text)
  return text:upper() .. "!"
end

return M
`;

const PROMISES_EXAMPLE = `-- Promises: setTimeout, Promise.new/all/race, async(fn) and await(p), as in JavaScript
-- (p:next(...) since "then" is a Lua keyword). The run ends when no timer is left.
local function sleep(ms, value)
  return Promise.new(function(resolve) setTimeout(function() resolve(value) end, ms) end)
end

local fetch_user = async(function(id)
  await(sleep(20 * id))                     -- pretend I/O
  return { id = id, name = "user" .. id }
end)

local t0 = os.clock()
local users = await(Promise.all({ fetch_user(1), fetch_user(2), fetch_user(3) }))
for _, u in ipairs(users) do print(u.id, u.name) end

local first = await(Promise.race({ sleep(50, "slow"), sleep(10, "fast") }))
print("race won by", first)

sleep(5, "later"):next(function(v) print("then:", v) end)
return #users, first
`;

const TESTS_EXAMPLE = `-- Tests with hype.test (Jest / busted style). Selecting this example saved it as
-- examples/calc_spec.lua: press "Run tests" (Files panel) to run every *_spec.lua.
local function add(a, b) return a + b end

describe("calc", function()
  it("adds", function()
    expect(add(2, 3)):toBe(5)
  end)

  it("compares tables deeply", function()
    expect({ 1, { 2, 3 } }):toEqual({ 1, { 2, 3 } })
  end)

  it("waits for a promise", function()
    local v = await(Promise.new(function(resolve) setTimeout(function() resolve(42) end, 10) end))
    assert.are.equal(42, v)
  end)

  it("checks errors", function()
    expect(function() error("boom") end):toThrow("boom")
  end)
end)
`;

// The "Actors" example (issue 11): see the Processes panel while it runs.
const ACTORS_EXAMPLE = `-- Actors (issue 11): Erlang-style processes in the worker. Watch the Processes panel.
-- A supervisor with two gen_server workers and a process that crashes every second
-- (restarted: a new pid each time), and a ping-pong pair, for ~10 s.
-- The run returns at once and the processes live on in the worker: they wait on an
-- unref'd timer (actor.sleep's timer would hold the run, and the worker answers one
-- request at a time, so the panel could only look after they all ended).
local actor = require("hype.actor")

local naps = 0
local function nap(ms)  -- actor.sleep(ms) on an unref'd timer
  naps = naps + 1
  local n = naps   -- (messages are copies: match a number, not a table)
  actor.send_after(actor.self(), { "wake", n }, ms):unref()
  actor.receive(function(m) return type(m) == "table" and m[1] == "wake" and m[2] == n end)
end

-- a gen_server worker counting the jobs cast to it
local counter = actor.server{
  init = function(name) return { name = name, jobs = 0 } end,
  handle_cast = function(job, s) s.jobs = s.jobs + job; return "noreply", s end,
  handle_call = function(req, from, s) return "reply", s.jobs, s end,
}

-- crashes on its first message; its supervisor restarts it
local function crasher()
  actor.register("crasher", actor.self())
  local msg = actor.receive()
  error("crasher: got " .. tostring(msg) .. ", crashing on purpose")
end

local sup = actor.supervisor{
  strategy = "one_for_one", intensity = 30, period = 10,
  children = {
    { id = "worker_a", start = { counter, "start_link", "a" } },
    { id = "worker_b", start = { counter, "start_link", "b" } },
    { id = "crasher", start = { fn = crasher } },
  },
}
local sup_pid = assert(sup:start())
actor.register("sup", sup_pid)

-- ping-pong: a rally of n hits each time it is served
local function player(name)
  actor.register(name, actor.self())
  while true do
    local m = actor.receive()
    if m == "stop" then return end
    local _, from, n = m[1], m[2], m[3]
    if n > 0 then actor.send(from, { "ball", actor.self(), n - 1 }) end
  end
end
local ping = actor.spawn(player, "ping")
local pong = actor.spawn(function()
  actor.link(ping)
  player("pong")
end)

actor.spawn(function()
  actor.register("clock", actor.self())
  for tick = 1, 10 do
    nap(1000)
    actor.send(ping, { "ball", pong, 2000 })
    for _, c in ipairs(actor.which_children(sup_pid)) do
      if c.id ~= "crasher" and c.pid then actor.cast(c.pid, tick) end
    end
    local old = actor.whereis("crasher")
    if old then actor.send(old, "boom") end
    nap(50)
    print(("tick %2d: crasher %s -> %s, worker_a did %d jobs"):format(tick, tostring(old),
      tostring(actor.whereis("crasher")), actor.call(actor.which_children(sup_pid)[1].pid, "jobs")))
  end
  actor.exit(sup_pid, "kill")   -- its children are linked to it: they go too
  actor.send(ping, "stop")
  actor.send(pong, "stop")
  print("done: stopped the supervisor and the ping-pong pair")
end)

print("started: supervisor " .. tostring(sup_pid) .. ", ping " .. tostring(ping) .. ", pong " .. tostring(pong))

`;

export const HTTP_EXAMPLE = `-- An Express-like app (hype serve app.lua runs it on a server);
-- the HTTP panel loads this buffer into the worker and sends requests with hype.fetch.
local app = require("hype.http").app()

app:get("/users/:id", function(req, res)
  res:json({ id = req.params.id, q = req.query.q })
end)

app:post("/echo", function(req, res)
  res:status(201):json(req:json())
end)

return app
`;

const LIVE_EXAMPLE = `-- LiveView in the worker (no server): "Run example" saves this buffer as
-- examples/counter_view.lua and mounts it below the output (hype.mountLive); clicks go
-- to handle_event in the worker and the page is patched with the new render.
local live = require("hype.live")

return live.view{
  template = [[
    <div class="live-counter">
      <b id="live-count">Count: {{ count }}</b>
      <button id="live-inc" hype-on:click="inc">+1</button>
      <button id="live-reset" hype-on:click="reset">reset</button>
    </div>]],
  mount = function(self, params, session)
    self:assign{ count = 0 }
  end,
  handle_event = function(self, event, payload)
    if event == "inc" then self:assign{ count = self.assigns.count + 1 } end
    if event == "reset" then self:assign{ count = 0 } end
  end,
}
`;

export const EXAMPLES = [
  { id: "memory", title: "Persistence: a function in Memory", action: "run", code: MEMORY_EXAMPLE,
    hint: "Ctrl+Enter runs it; Memory entries survive a reload (External tables)." },
  { id: "batches", title: "Batches and queries (indices)", action: "run", code: BATCHES_EXAMPLE,
    hint: "an atomic batch of 120 rows, an index on age, a query; browse the table in Indices & queries." },
  { id: "require", title: "require: a module in the project", action: "run", code: REQUIRE_EXAMPLE,
    files: { "lib/greet.lua": GREET_MODULE },
    hint: "lib/greet.lua was saved in the project (Files); Ctrl+Enter runs the buffer." },
  { id: "promises", title: "Promises: async/await and timers", action: "run", code: PROMISES_EXAMPLE,
    hint: "Ctrl+Enter runs it; the run ends when no timer is left." },
  { id: "tests", title: "Tests: hype.test describe/it", action: "tests", code: TESTS_EXAMPLE,
    path: "examples/calc_spec.lua",
    hint: "Run example saves the buffer as examples/calc_spec.lua and runs it (Run tests runs every spec)." },
  { id: "http", title: "HTTP app", action: "http", code: HTTP_EXAMPLE, request: { method: "GET", path: "/users/1?q=hi" },
    hint: "Run example (or Send in the HTTP panel) loads the buffer as the app and sends a request." },
  { id: "live", title: "LiveView: a counter", action: "live", code: LIVE_EXAMPLE, path: "examples/counter_view.lua",
    hint: "Run example mounts the view below the output; click +1." },
  { id: "actors", title: "Actors: supervisor, ping-pong, crashes", action: "run", code: ACTORS_EXAMPLE,
    hint: "Ctrl+Enter runs it; watch the Processes panel for ~10 s." },
];
