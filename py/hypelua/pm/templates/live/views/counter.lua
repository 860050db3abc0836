-- The smallest LiveView: state in assigns, one event, only the changed number goes over the wire.
local live = require("hype.live")

return live.view{
  template = [[
<div class="counter">
  <h1>Count: {{ count }}</h1>
  <button hype-on:click="dec">-</button>
  <button hype-on:click="inc">+</button>
  <button hype-on:click="reset" hype-if="count ~= 0">reset</button>
</div>]],

  mount = function(self, params, session)
    self:assign{ count = tonumber(params.start) or 0 }
  end,

  handle_event = function(self, event, payload)
    if event == "inc" then
      self:assign{ count = self.assigns.count + 1 }
    elseif event == "dec" then
      self:assign{ count = self.assigns.count - 1 }
    elseif event == "reset" then
      self:assign{ count = 0 }
    end
  end,
}
