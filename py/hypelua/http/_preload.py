"""``require("hype.http")``, ``"hype.json"`` and ``"hype.live"`` for every runtime, at the cost of one tiny chunk.

Kept apart from :mod:`._host` so that a runtime's start-up (``hype run hello.lua``
is a start-up benchmark) imports nothing of server mode: the module and its host
load on the first ``require``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._runtime import Runtime

_PRELOAD = """
local source, host, json_source, live_source, live_host = ...
local load, G = load, _G
local json
local function get_json()
  if json == nil then json = load(json_source(), "@hype/json.lua", "t", G)() end
  return json
end
package.preload["hype.json"] = get_json
package.preload["hype.http"] = function()
  return load(source(), "@hype/http.lua", "t", G)(host(), get_json())
end
local live -- one instance per runtime (a sandbox's own package.loaded gets the same module)
package.preload["hype.live"] = function()
  if live == nil then live = load(live_source(), "@hype/live.lua", "t", G)(live_host(), get_json()) end
  return live
end
"""


def install(rt: Runtime) -> None:
    """Register ``package.preload["hype.http"]``, ``["hype.json"]`` and ``["hype.live"]`` in ``rt`` (the runtime's own
    chunks and environment)."""

    def source() -> str:
        from .._runtime import lua_source

        return lua_source("http")

    def host() -> dict[str, Any]:
        from ._host import HttpHost

        return HttpHost.of(rt).lua_table()

    def json_source() -> str:
        from .._runtime import lua_source

        return lua_source("json")

    def live_source() -> str:
        from .._runtime import lua_source

        return lua_source("live")

    def live_host() -> dict[str, Any]:
        from ..live._lua import LiveHost

        return LiveHost.of(rt).lua_table()

    rt.vm.execute(_PRELOAD, source, host, json_source, live_source, live_host, chunkname="=(hype boot)")
