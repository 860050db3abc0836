-- A table fed by storage: rows come from an indexed query, paged with live patches
-- (?page=N changes the URL in place); editing one cell sends that cell only.
local live = require("hype.live")

local PAGE = 20

local function seed()
  local items = storage.table("items")
  if items["item-001"] == nil then
    local batch = {}
    for i = 1, 200 do
      batch[#batch + 1] = { type = "set", table = "items", key = string.format("item-%03d", i),
                            value = { n = i, name = "Item " .. i, price = (i * 37) % 100 + 0.5 } }
    end
    storage.batch(batch)
    storage.create_index("items", "n")
  end
end

local function load_page(page)
  local rows = {}
  for key, item in storage.query("items", { field = "n", operator = ">", value = (page - 1) * PAGE,
                                            orderBy = "n", limit = PAGE }) do
    rows[#rows + 1] = { key = key, n = item.n, name = item.name, price = item.price }
  end
  return rows
end

return live.view{
  template = [[
<section class="table">
  <h1>Items, page {{ page }}</h1>
  <table>
    <tr><th>#</th><th>Name</th><th>Price</th><th></th></tr>
    {% for row in rows key row.key %}
    <tr id="{{ row.key }}"><td>{{ row.n }}</td><td>{{ row.name }}</td>
      <td>{{ string.format("%.2f", row.price) }}</td>
      <td><button hype-on:click="bump" hype-value-key="{{ row.key }}">+1</button></td></tr>
    {% end %}
  </table>
  <a hype-patch href="?page={{ math.max(1, page - 1) }}">previous</a>
  <a hype-patch href="?page={{ page + 1 }}">next</a>
</section>]],

  mount = function(self, params, session)
    seed()
    self:assign{ page = 1, rows = {} }
  end,

  handle_params = function(self, params, uri)
    local page = math.max(1, math.tointeger(tonumber(params.page) or 1) or 1)
    self:assign{ page = page, rows = load_page(page) }
  end,

  handle_event = function(self, event, payload)
    if event == "bump" then
      local items = storage.table("items")
      local item = items[payload.key]
      if item then
        item.price = item.price + 1
        items[payload.key] = item
        self:assign{ rows = load_page(self.assigns.page) }
      end
    end
  end,
}
