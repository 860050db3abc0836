"""Express path patterns matched with Starlette's router primitives.

``hype.http`` layers use Express syntax (``/users/:id``, ``/files/:name?``,
``/static/*``, ``/docs/*rest``); Starlette syntax (``/items/{id:int}``) works too.
Each pattern is translated to Starlette paths and compiled with
:func:`starlette.routing.compile_path` (its regexes and convertors), so no path
parsing of our own decides what matches.  Unlike Starlette's ``Router`` (first
match wins), Express runs *every* matching layer in order, so :meth:`Router.match`
returns all of them.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import compile_path

from .._errors import RouteError

_SEGMENT = re.compile(r"(\{[^}]*\}|:[A-Za-z_][A-Za-z0-9_]*\??|\*[A-Za-z_][A-Za-z0-9_]*|\*)")
WILDCARD = "*"   # params key of a bare ``*``
_WILD_GROUP = "hype_wildcard"
REST = "__rest"  # the part of the path under a middleware / static prefix
_MAX_OPTIONAL = 4


def _variants(pattern: str) -> list[str]:
    """Express pattern -> Starlette paths (one per combination of optional params)."""
    parts = _SEGMENT.split(pattern)
    out = [""]
    optional = 0
    for i, part in enumerate(parts):
        if i % 2 == 0 or part.startswith("{"):  # literal text, or a Starlette "{name:type}" parameter
            out = [o + part for o in out]
        elif part.startswith(":"):
            name = part[1:].rstrip("?")
            if part.endswith("?"):
                optional += 1
                if optional > _MAX_OPTIONAL:
                    raise RouteError(f"too many optional parameters in {pattern!r} (at most {_MAX_OPTIONAL})")
                # "/:id?" drops the slash with the parameter
                out = [o + "{" + name + "}" for o in out] + [o[:-1] if o.endswith("/") and len(o) > 1 else o
                                                           for o in out]
            else:
                out = [o + "{" + name + "}" for o in out]
        else:
            name = part[1:] or _WILD_GROUP
            out = [o + "{" + name + ":path}" for o in out]
    return [o or "/" for o in out]


def _normalise(path: str) -> str:
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


class _Layer:
    __slots__ = ("index", "kind", "literal", "methods", "prefix", "regexes", "root")

    def __init__(self, index: int, kind: str, method: str | None, path: str) -> None:
        self.index = index
        self.kind = kind
        if method is None:
            self.methods: frozenset[str] | None = None
        elif method == "GET":
            self.methods = frozenset(("GET", "HEAD"))
        else:
            self.methods = frozenset((method,))
        self.prefix = kind in ("use", "error", "static")
        path = _normalise(path)
        self.root = self.prefix and path == "/"
        regexes: list[tuple[Any, dict[str, Any]]] = []
        #: a path without parameters is compared as a string (no regex on the hot path)
        self.literal = path if "{" not in path and not _SEGMENT.search(path) else None
        try:
            for variant in _variants(path):
                if self.prefix:
                    if self.root:
                        continue
                    regexes.append(compile_path(variant)[::2])
                    regexes.append(compile_path(variant + "/{" + REST + ":path}")[::2])
                else:
                    regexes.append(compile_path(_normalise(variant))[::2])
        except (ValueError, AssertionError, re.error) as exc:
            raise RouteError(f"cannot compile the route {path!r}: {exc}", details={"path": path}) from None
        self.regexes = regexes

    def match(self, path: str) -> dict[str, Any] | bool | None:
        """False: no match; None: a match without parameters; else the parameters."""
        if self.root:
            return {REST: path[1:]} if path != "/" else None
        literal = self.literal
        if literal is not None:
            if path == literal:
                return None
            if not self.prefix:
                return False
            if path.startswith(literal) and path[len(literal)] == "/":
                return {REST: path[len(literal) + 1:]}
            return False
        for regex, convertors in self.regexes:
            m = regex.match(path)
            if m is not None:
                groups = m.groupdict()
                if not groups:
                    return None
                params: dict[str, Any] = {}
                for key, value in groups.items():
                    conv = convertors.get(key)
                    params[WILDCARD if key == _WILD_GROUP else key] = conv.convert(value) if conv else value
                return params
        return False


class Router:
    """All layers of one flattened app, matched in order.

    Args:
        layers: ``[(kind, method | None, path), ...]`` in stack order; ``kind`` is
            ``use`` / ``error`` / ``static`` (prefix match) or ``route`` / ``ws``
            (whole-path match); ``method`` None matches every method.
    Raises:
        RouteError: a pattern that does not compile.
    """

    def __init__(self, layers: list[tuple[str, str | None, str]]) -> None:
        self.http: list[_Layer] = []
        self.ws: list[_Layer] = []
        for i, (kind, method, path) in enumerate(layers, start=1):
            layer = _Layer(i, kind, method, path)
            (self.ws if kind == "ws" else self.http).append(layer)

    def match(self, method: str, path: str) -> list[Any]:
        """Every HTTP layer matching ``method`` and ``path``, in order.

        Returns:
            flat ``[layer_index, params | False, ...]`` (1-based indices, the
            shape ``hype.http``'s dispatch takes); ``/x/`` matches like ``/x``.
        """
        path = _normalise(path)
        out: list[Any] = []
        for layer in self.http:
            if layer.methods is not None and method not in layer.methods:
                continue
            params = layer.match(path)
            if params is not False:
                out.append(layer.index)
                out.append(params if params else False)
        return out

    def match_ws(self, path: str) -> tuple[int, dict[str, Any] | None] | None:
        """The first WebSocket layer matching ``path``: ``(index, params)`` or None."""
        path = _normalise(path)
        for layer in self.ws:
            params = layer.match(path)
            if params is not False:
                return layer.index, params  # type: ignore[return-value]
        return None
