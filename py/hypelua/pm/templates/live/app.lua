-- A hypelua LiveView app: `hype serve app.lua` (add --dev --reload while developing).
local http = require("hype.http")

local app = http.app()

app:get("/", function(req, res)
  res:html([[<!doctype html><title>hypelua LiveView</title>
<h1>hypelua LiveView</h1>
<ul>
  <li><a href="/counter">Counter</a></li>
  <li><a href="/todos">Todo list with a validated form</a></li>
  <li><a href="/table">Table fed by storage</a></li>
</ul>]])
end)

app:live("/counter", require("./views/counter"))
app:live("/todos", require("./views/todos"))
app:live("/table", require("./views/table"))

return app
