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


class ComponentCall:
    """What ``live_component(Cls, id=..., **assigns)`` evaluates to in a template: the
    renderer hands it to the context's ``component`` hook, which answers the component id
    (``cid``, the integer dynamic of Phoenix's format)."""

    __slots__ = ("assigns", "cls", "id")

    def __init__(self, cls: Any, id: Any, assigns: dict[str, Any]) -> None:
        self.cls, self.id, self.assigns = cls, id, assigns


class Deferred:
    """A function component's output: ``template`` to render with ``scope`` (a nested render)."""

    __slots__ = ("scope", "template")

    def __init__(self, template: Template, scope: Mapping[str, Any]) -> None:
        self.template, self.scope = template, scope


class StreamOps:
    """A stream's pending operations (the items are not kept: rendered once, then dropped).

    ``inserts``: (item, at) with ``at`` -1 (append) or 0 (prepend); ``deletes``: keys;
    ``reset``: clear the client's entries first.
    """

    __slots__ = ("deletes", "inserts", "reset")

    def __init__(self) -> None:
        self.inserts: list[tuple[Any, int]] = []
        self.deletes: list[Any] = []
        self.reset = False

    def __iter__(self) -> Any:
        return (item for item, _ in self.inserts)

    def clear(self) -> None:
        self.inserts, self.deletes, self.reset = [], [], False


class Context:
    """Render-time hooks: ``component(call) -> cid`` for stateful components (None: refused)."""

    def __init__(self, component: Callable[[ComponentCall], int] | None = None) -> None:
        self.component = component


_NO_CONTEXT = Context()


def dynamic(value: Any, raw: bool, evaluate: Evaluate, ctx: Context) -> Any:
    """The rendered form of an expression's value (the one rule set of both renderers):
    a string escaped with markupsafe unless ``raw``; None/False -> ""; True -> "true";
    a function component's :class:`Deferred` -> a nested render; a :class:`ComponentCall`
    -> the component id ``ctx.component`` gives; anything else -> ``str`` (escaped)."""
    cls = type(value)
    if cls is str:
        return value if raw else str(escape(value))
    if value is None or value is False:
        return ""
    if value is True:
        return "true"
    if cls is int:
        return str(value)
    if cls is Deferred:
        return render(value.template, value.scope, evaluate, ctx)
    if cls is ComponentCall:
        if ctx.component is None:
            raise TypeError("live_component() is only available inside a live view")
        return ctx.component(value)
    return str(value) if raw else str(escape(value))


def render(t: Template, scope: Mapping[str, Any], evaluate: Evaluate, ctx: Context = _NO_CONTEXT,
           only: Any = None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render ``t`` with ``scope`` (assigns, plus loop variables) into the rendered format.

    Args:
        ctx: render-time hooks (stateful components).
        only: change tracking: when given (a set of changed names) with ``previous`` (the
            last render of ``t``), top-level parts reading none of those names are reused
            from ``previous`` instead of evaluated.
    """
    out: dict[str, Any] = {"f": t.fingerprint, "s": t.statics}
    if only is not None and previous is not None:
        for i, part in enumerate(t.parts):
            key = str(i)
            out[key] = (_render_part(part, scope, evaluate, ctx) if not part.names.isdisjoint(only)
                        else previous[key])
        return out
    for i, part in enumerate(t.parts):
        out[str(i)] = _render_part(part, scope, evaluate, ctx)
    return out


def _render_part(part: Expr | If | For, scope: Mapping[str, Any], evaluate: Evaluate, ctx: Context) -> Any:
    if isinstance(part, Expr):
        return dynamic(evaluate(part.code, scope), part.raw, evaluate, ctx)
    if isinstance(part, If):
        for cond, body in part.branches:
            if evaluate(cond, scope):
                return render(body, scope, evaluate, ctx)
        return render(part.default, scope, evaluate, ctx) if part.default is not None else ""
    items = evaluate(part.iterable, scope) or []
    entries: dict[str, Any] = {}
    keys: list[Any] = []
    stream = items if isinstance(items, StreamOps) else None
    bind = getattr(evaluate, "bind", None)
    for n, item in enumerate(items):
        if bind is not None:
            inner = bind(scope, part.var, item)
        else:
            inner = dict(scope)
            inner[part.var] = item
        body = render(part.body, inner, evaluate, ctx)
        del body["f"], body["s"]
        entries[str(n)] = body
        keys.append(evaluate(part.key, inner) if part.key else n)
    entries["kc"] = len(entries)
    out = {"f": part.body.fingerprint, "s": part.body.statics, "k": entries, "keys": keys}
    if stream is not None:
        if part.key is None:
            raise TypeError(f"a stream needs a key: {{% for {part.var} in {part.iterable} key {part.var}.id %}}")
        out["st"] = {"keys": keys, "at": [at for _, at in stream.inserts], "del": list(stream.deletes),
                     "reset": stream.reset}
    return out


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
        elif k == "st":
            out[k] = v
        elif k == "c":
            out[k] = {cid: _full(cv, sent) for cid, cv in v.items()}
        elif k == "k":
            out[k] = {ek: (_full(ev, sent) if ek != "kc" else ev) for ek, ev in v.items()}
        else:
            out[k] = _full(v, sent)
    return out


def _diff(old: Any, new: Any, sent: set[int]) -> Any:
    if new is old:
        return _SAME  # a part reused by change tracking (streams rely on this: never re-sent)
    if not isinstance(new, dict):
        return _SAME if new == old else new
    if "st" in new:  # a stream: what is pending, always (the server keeps no entries to compare)
        st = new["st"]
        if not st["keys"] and not st["del"] and not st["reset"] and isinstance(old, dict) \
                and old.get("f") == new["f"]:
            return _SAME
        full = _full(new, sent)
        if isinstance(old, dict) and old.get("f") == new["f"]:
            full.pop("s", None)
        return full
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

    Top-level ``"c"`` (stateful components) is merged by component id; streams keep their
    entries by key (``"keys"``) on this side.
    """
    statics = statics if statics is not None else {}
    if d is None:
        return old
    if not isinstance(d, dict):
        return d
    if "st" in d:
        return _apply_stream(old, d, statics)
    if "f" in d and (not isinstance(old, dict) or old.get("f") != d["f"]):
        return _materialise(d, statics)
    out = dict(old)
    for key, value in d.items():
        if key == "k":
            out["k"] = _apply_entries(old["k"], value, statics)
        elif key == "c":
            comps = dict(old.get("c", {}))
            for cid, cd in value.items():
                comps[cid] = apply(comps.get(cid), cd, statics)
            out["c"] = comps
        else:
            out[key] = apply(old.get(key), value, statics)
    return out


def _apply_stream(old: Any, d: dict[str, Any], statics: dict[int, list[str]]) -> dict[str, Any]:
    if "s" in d:
        statics[d["f"]] = d["s"]
    keep = isinstance(old, dict) and old.get("f") == d["f"] and not d["st"]["reset"]
    keys: list[Any] = list(old["keys"]) if keep else []
    entries: list[Any] = [old["k"][str(i)] for i in range(old["k"]["kc"])] if keep else []
    gone = {json_key(k) for k in d["st"]["del"]}
    if gone:
        pairs = [(k, e) for k, e in zip(keys, entries, strict=True) if json_key(k) not in gone]
        keys, entries = [k for k, _ in pairs], [e for _, e in pairs]
    for i, key in enumerate(d["st"]["keys"]):
        entry = _materialise(d["k"][str(i)], statics, d["f"])
        where = next((j for j, k in enumerate(keys) if json_key(k) == json_key(key)), None)
        if where is not None:
            entries[where] = entry
            continue
        at = d["st"]["at"][i]
        pos = len(keys) if at == -1 or at > len(keys) else at
        keys.insert(pos, key)
        entries.insert(pos, entry)
    k: dict[str, Any] = {str(i): e for i, e in enumerate(entries)}
    k["kc"] = len(entries)
    return {"f": d["f"], "s": statics[d["f"]], "k": k, "keys": keys}


def json_key(key: Any) -> str:
    """A key as the client compares it (JSON text: 1 and "1" differ, like Phoenix's dom ids)."""
    import json

    return json.dumps(key, sort_keys=True)


def _materialise(d: dict[str, Any], statics: dict[int, list[str]], fp: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "s" in d and "f" in d:
        statics[d["f"]] = d["s"]
    if "st" in d:
        return _apply_stream(None, d, statics)
    for key, value in d.items():
        if key == "k":
            out["k"] = {ek: (_materialise(ev, statics) if isinstance(ev, dict) else ev) for ek, ev in value.items()}
        elif key == "c":
            out["c"] = {cid: _materialise(cv, statics) for cid, cv in value.items()}
        elif isinstance(value, dict):
            out[key] = _materialise(value, statics)
        else:
            out[key] = value
    if "f" in d:
        out["s"] = statics[d["f"]]
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


def to_html(r: Any, statics: list[str] | None = None, components: dict[str, Any] | None = None) -> str:
    """HTML of a (full, or materialised) render; integer dynamics are components from ``"c"``."""
    if components is None and isinstance(r, dict) and "c" in r:
        components = r["c"]
    if type(r) is int:
        c = (components or {})[str(r)]
        return to_html(c, None, components)
    if not isinstance(r, dict):
        return str(r)
    s = statics if statics is not None else r["s"]
    if "k" in r:
        return "".join(to_html(r["k"][str(i)], s, components) for i in range(r["k"]["kc"]))
    parts = [s[0]]
    for i in range(1, len(s)):
        parts.append(to_html(r[str(i - 1)], None, components))
        parts.append(s[i])
    return "".join(parts)
