"""Rendering compiled templates into Phoenix LiveView's rendered format, and diffing renders.

A render is plain data (JSON-ready)::

    {"f": fingerprint, "s": [statics...], "0": dyn, "1": dyn, ...}

where a dynamic is a string (already escaped), a nested render (an ``if`` branch), or a
comprehension ``{"f": fp, "s": [body statics], "k": {"0": entry, "1": entry, ..., "kc": n}}``
whose entries are ``{"0": dyn, ...}`` dicts (keyed by the ``key`` expression when given).

:func:`diff` gives only what changed (Phoenix's diff rules): statics are left out when the
client already has that fingerprint, unchanged dynamics are left out, a comprehension sends
only new or changed entries: a dict patches the entry at the same index, an entry that moved
is the integer of its old index, one that moved and changed is ``[old_index, entry_diff]``,
a new one is ``[null, entry]``; ``kc`` is the new count when it changed.  :func:`apply` is the client's side (the
JS connector does the same), :func:`to_html` turns a full render into HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import escape

from ._template import Expr, For, If, Template

Evaluate = Callable[[str, Mapping[str, Any]], Any]


class _Attrs(dict):  # type: ignore[type-arg]
    """A dict whose keys also read as attributes (``item.id`` in a template)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return wrap(self[name])
        except KeyError:
            raise AttributeError(name) from None


def wrap(value: Any) -> Any:
    """Dicts (and dicts in lists) read with attribute syntax in Python template expressions."""
    if type(value) is dict:
        return _Attrs(value)
    return value


class _Scope(dict):  # type: ignore[type-arg]
    def __missing__(self, name: str) -> Any:
        raise NameError(f"name {name!r} is not an assign")


_SAFE_BUILTINS = {name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
                  for name in ("len", "str", "int", "float", "min", "max", "sum", "abs", "round", "sorted",
                               "enumerate", "range", "bool", "list", "dict", "any", "all", "zip", "repr")}


class PythonEvaluator:
    """Evaluates Python template expressions (compiled once each) over the assigns."""

    def __init__(self) -> None:
        self._code: dict[str, Any] = {}

    def __call__(self, code: str, scope: Mapping[str, Any]) -> Any:
        compiled = self._code.get(code)
        if compiled is None:
            compiled = compile(code, "<template>", "eval")
            self._code[code] = compiled
        env = _Scope({k: wrap(v) for k, v in scope.items()})
        return eval(compiled, {"__builtins__": _SAFE_BUILTINS}, env)  # the view's own template, not user input


def _text(value: Any, raw: bool) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    return str(value) if raw else str(escape(value))


def render(t: Template, scope: Mapping[str, Any], evaluate: Evaluate) -> dict[str, Any]:
    """Render ``t`` with ``scope`` (assigns, plus loop variables) into the rendered format."""
    out: dict[str, Any] = {"f": t.fingerprint, "s": t.statics}
    for i, part in enumerate(t.parts):
        out[str(i)] = _render_part(part, scope, evaluate)
    return out


def _render_part(part: Expr | If | For, scope: Mapping[str, Any], evaluate: Evaluate) -> Any:
    if isinstance(part, Expr):
        return _text(evaluate(part.code, scope), part.raw)
    if isinstance(part, If):
        for cond, body in part.branches:
            if evaluate(cond, scope):
                return render(body, scope, evaluate)
        return render(part.default, scope, evaluate) if part.default is not None else ""
    items = evaluate(part.iterable, scope) or []
    entries: dict[str, Any] = {}
    keys: list[Any] = []
    for n, item in enumerate(items):
        inner = dict(scope)
        inner[part.var] = item
        body = render(part.body, inner, evaluate)
        del body["f"], body["s"]
        entries[str(n)] = body
        keys.append(evaluate(part.key, inner) if part.key else n)
    entries["kc"] = len(entries)
    return {"f": part.body.fingerprint, "s": part.body.statics, "k": entries, "keys": keys}


_SAME = object()


def diff(old: Any, new: Any, sent: set[int] | None = None) -> Any:
    """What turns render ``old`` into ``new`` (``None`` when nothing changed).

    Args:
        old: the previous render (None: the client has nothing).
        new: the new render.
        sent: fingerprints whose statics the client already has; updated in place.
    """
    d = _diff(old, new, sent if sent is not None else set())
    return None if d is _SAME else d


def _full(new: Any, sent: set[int]) -> Any:
    """``new`` for a client that has no previous version of it (statics once per fingerprint)."""
    if not isinstance(new, dict):
        return new
    out: dict[str, Any] = {}
    for k, v in new.items():
        if k == "s":
            if new["f"] in sent:
                continue
            sent.add(new["f"])
            out[k] = v
        elif k == "keys":
            continue
        elif k == "k":
            out[k] = {ek: (_full(ev, sent) if ek != "kc" else ev) for ek, ev in v.items()}
        else:
            out[k] = _full(v, sent)
    return out


def _diff(old: Any, new: Any, sent: set[int]) -> Any:
    if not isinstance(new, dict):
        return _SAME if new == old else new
    if not isinstance(old, dict) or old.get("f") != new.get("f"):
        return _full(new, sent)
    out: dict[str, Any] = {}
    if "k" in new:
        k = _diff_entries(old, new, sent)
        if k is not _SAME:
            out["k"] = k
        return out or _SAME
    for key, value in new.items():
        if key in ("f", "s"):
            continue
        d = _diff(old.get(key), value, sent)
        if d is not _SAME:
            out[key] = d
    return out or _SAME


def _diff_entries(old: dict[str, Any], new: dict[str, Any], sent: set[int]) -> Any:
    old_keys: list[Any] = old.get("keys", [])
    where = {key: i for i, key in enumerate(old_keys)}
    out: dict[str, Any] = {}
    for i, key in enumerate(new.get("keys", [])):
        entry = new["k"][str(i)]
        j = where.get(key)
        if j is None:
            out[str(i)] = [None, _full(entry, sent)]
            continue
        d = _diff(old["k"][str(j)], entry, sent)
        if j == i:
            if d is not _SAME:
                out[str(i)] = d
        elif d is _SAME:
            out[str(i)] = j
        else:
            out[str(i)] = [j, d]
    if new["k"]["kc"] != old["k"]["kc"]:
        out["kc"] = new["k"]["kc"]
    return out or _SAME


def apply(old: Any, d: Any, statics: dict[int, list[str]] | None = None) -> Any:
    """The client's side of :func:`diff`: ``old`` patched with ``d`` (a new render).

    Args:
        statics: fingerprint -> statics the client has seen (filled in place).
    """
    statics = statics if statics is not None else {}
    if d is None:
        return old
    if not isinstance(d, dict):
        return d
    if "f" in d and (not isinstance(old, dict) or old.get("f") != d["f"]):
        return _materialise(d, statics)
    out = dict(old)
    for key, value in d.items():
        if key == "k":
            out["k"] = _apply_entries(old["k"], value, statics)
        else:
            out[key] = apply(old.get(key), value, statics)
    return out


def _materialise(d: dict[str, Any], statics: dict[int, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "s" in d:
        statics[d["f"]] = d["s"]
    for key, value in d.items():
        if key == "k":
            out["k"] = {ek: (_materialise(ev, statics) if isinstance(ev, dict) else ev) for ek, ev in value.items()}
        elif isinstance(value, dict):
            out[key] = _materialise(value, statics)
        else:
            out[key] = value
    out["s"] = statics[d["f"]] if "f" in d else d.get("s")
    return out


def _apply_entries(old: dict[str, Any], d: dict[str, Any], statics: dict[int, list[str]]) -> dict[str, Any]:
    count = d.get("kc", old["kc"])
    out: dict[str, Any] = {"kc": count}
    for i in range(count):
        key = str(i)
        change = d.get(key, _SAME)
        if change is _SAME:
            out[key] = old[key]
        elif isinstance(change, int):
            out[key] = old[str(change)]
        elif isinstance(change, list):
            if change[0] is None:  # a new entry
                out[key] = _materialise(change[1], statics)
            else:
                out[key] = apply(old[str(change[0])], change[1], statics)
        else:  # the entry at this index, patched
            out[key] = apply(old[key], change, statics)
    return out


def to_html(r: Any, statics: list[str] | None = None) -> str:
    """HTML of a (full, or materialised) render."""
    if not isinstance(r, dict):
        return str(r)
    s = statics if statics is not None else r["s"]
    if "k" in r:
        return "".join(to_html(r["k"][str(i)], s) for i in range(r["k"]["kc"]))
    parts = [s[0]]
    for i in range(1, len(s)):
        parts.append(to_html(r[str(i - 1)]))
        parts.append(s[i])
    return "".join(parts)
