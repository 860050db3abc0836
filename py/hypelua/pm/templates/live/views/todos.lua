-- A todo list: a form validated with JSON Schema (errors next to the field), keyed list items,
-- todos kept in the `todos` external table (they survive restarts), every tab kept in sync
-- through pub/sub.
local live = require("hype.live")

local schema = {
  type = "object",
  required = { "title" },
  properties = { title = { type = "string", minLength = 3, maxLength = 80 } },
}

local function load_todos()
  local out = {}
  for key, todo in storage.query("todos", { orderBy = "created", limit = 200 }) do
    out[#out + 1] = { id = key, title = todo.title, done = todo.done, created = todo.created }
  end
  return out
end

return live.view{
  schema = schema,
  template = [[
<section class="todos">
  <h1>Todos ({{ #todos }})</h1>
  <form hype-on:submit.prevent="add">
    <input name="title" hype-model="title" value="{{ title }}" placeholder="What needs doing?" autocomplete="off">
    <span class="error" hype-if="errors.title">{{ errors.title }}</span>
    <button type="submit" hype-disable-with="Adding...">Add</button>
  </form>
  <ul>
    {% for todo in todos key todo.id %}
    <li id="todo-{{ todo.id }}" hype-class="{ 'done': todo.done }">
      <input type="checkbox" hype-on:change="toggle" hype-value-id="{{ todo.id }}" {% if todo.done %}checked{% end %}>
      {{ todo.title }}
      <button hype-on:click="delete" hype-value-id="{{ todo.id }}">x</button>
    </li>
    {% end %}
  </ul>
</section>]],

  mount = function(self, params, session)
    storage.create_index("todos", "created")
    self:assign{ todos = load_todos(), title = "", errors = {} }
    live.subscribe("todos")
  end,

  handle_event = function(self, event, payload)
    if event == "add" then
      local errors = self:validate({ title = payload.title }, schema)
      if next(errors) == nil then
        local id = string.format("%d-%04d", os.time(), math.random(0, 9999))
        storage.table("todos")[id] = { title = payload.title, done = false, created = os.time() }
        self:assign{ title = "" }
        live.broadcast("todos", "changed")
      end
    elseif event == "toggle" then
      local todos = storage.table("todos")
      local todo = todos[payload.id]
      if todo then
        todo.done = not todo.done
        todos[payload.id] = todo
        live.broadcast("todos", "changed")
      end
    elseif event == "delete" then
      storage.table("todos")[payload.id] = nil
      live.broadcast("todos", "changed")
    end
  end,

  handle_info = function(self, msg)
    if msg == "changed" then self:assign{ todos = load_todos() } end
  end,
}
