"""``require("hype.http")`` for every runtime, at the cost of one tiny chunk.

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
local source, host = ...
local load, G = load, _G
package.preload["hype.http"] = function()
  return load(source(), "@hype/http.lua", "t", G)(host())
end
"""


def install(rt: Runtime) -> None:
    """Register ``package.preload["hype.http"]`` in ``rt`` (the runtime's own chunk and environment)."""

    def source() -> str:
        from .._runtime import lua_source

        return lua_source("http")

    def host() -> dict[str, Any]:
        from ._host import HttpHost

        return HttpHost.of(rt).lua_table()

    rt.vm.execute(_PRELOAD, source, host, chunkname="=(hype boot)")
