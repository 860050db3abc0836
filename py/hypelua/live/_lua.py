"""Lua LiveViews: the Python side of ``require("hype.live")`` (``lua/hype/live.lua``).

A Lua view is a table made by ``live.view{...}``; a :class:`LuaView` drives one instance
of it through exactly the ``_lv_*`` interface of :class:`~hypelua.live.LiveView`, so the
same :class:`~hypelua.live._session.Session`, protocol and differ serve both languages.

Templates are compiled by the shared compiler (:func:`~hypelua.live.compile_template`);
:func:`lua_render_source` turns a compiled :class:`Template` into one Lua render function
(expressions inlined as Lua, loop variables as Lua locals, the assigns as ``_ENV``) that
appends the rendered format as JSON text to a buffer: a render crosses the bridge once as
one string, and the statics (``"s"``) are added here by fingerprint.  Change tracking: the
instance records the assigns it changed (``self:assign``), the render evaluates only the
top-level parts whose ``names`` meet them, and :meth:`LuaView._lv_render` reuses the others
from the previous render (the same objects, so :func:`~hypelua.live.diff` skips them).

Values render like the Python renderer: strings escaped like ``markupsafe.escape``
(``& < > " '`` -> ``&amp; &lt; &gt; &#34; &#39;``), ``raw(x)`` unescaped, nil/false -> ``""``,
true -> ``"true"``, integers as digits, floats like Python's ``str`` (``1.0``, ``0.1``,
``1e+16``; the shortest of 15-17 significant digits that reads back, ``inf``/``nan``),
bytes that are not UTF-8 -> U+FFFD.  Tables without ``__tostring`` are refused.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import HypeError, LiveError, TemplateError
from ._render import ComponentCall, Context
from ._template import Expr, For, If, Template
from ._view import compiled

if TYPE_CHECKING:
    from .._runtime import Runtime
    from ..lua import LuaFunction

log = logging.getLogger("hypelua.live")

DEFAULT_TIMEOUT = 30.0  # seconds a hook or a render may run (the watch hook stops it)

# ----------------------------------------------------------------------------- codegen
_LUA_KEYWORDS = frozenset(("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
                           "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"))
_RESERVED = re.compile(r"(?<![\w.])_hl_\w*")


def _lua_str(s: str) -> str:
    """A Lua string literal for ``s`` (UTF-8 kept as it is; quotes, backslashes and controls escaped)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif o < 32 or o == 127:
            out.append(f"\\{o:03d}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class _Gen:
    """Builds the Lua source of one template's render function (see :func:`lua_render_source`)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.map: list[int] = []          # generated line (1-based, minus 1) -> template line
        self.exprs: list[Any] = []        # flat: expression, template line, ...
        self.pending: list[str] = []      # constant JSON text not yet appended
        self.depth = 0

    def const(self, text: str) -> None:
        self.pending.append(text)

    def flush(self) -> None:
        if self.pending:
            text = "".join(self.pending)
            self.pending = []
            self._line(f"_hl_n = _hl_n + 1; _hl_b[_hl_n] = {_lua_str(text)}", 0)

    def stmt(self, text: str, tline: int = 0) -> None:
        self.flush()
        self._line(text, tline)

    def _line(self, text: str, tline: int) -> None:
        physical = text.split("\n")
        last = max(0, len(physical) - 2)  # the line after an expression's own lines closes its "(...\n)"
        for k, line in enumerate(physical):
            self.lines.append(line)
            self.map.append(tline + min(k, last) if tline else 0)

    def expr(self, code: str, tline: int) -> str:
        """``code`` as a parenthesised Lua expression (checked alone by the Lua side first)."""
        if _RESERVED.search(re.sub(r"'[^']*'|\"[^\"]*\"", "", code)):
            raise TemplateError(f"template line {tline}: names starting with _hl_ are reserved: {{{{ {code} }}}}",
                                details={"line": tline})
        self.exprs += [code, tline]
        return "(" + code + "\n)"

    # --- templates and parts
    def template(self, t: Template, top: bool) -> None:
        """``{"f":fp,"s":0,"0":...}`` (``s`` filled in by Python); at the top, change tracking."""
        self.const(f'{{"f":{t.fingerprint},"s":0')
        for i, part in enumerate(t.parts):
            if top:
                cond = "_hl_ch == nil" + "".join(f" or _hl_ch[{_lua_str(n)}]" for n in sorted(part.names))
                self.stmt(f"if {cond} then")
            self.const(f',"{i}":')
            self.part(part)
            if top:
                self.stmt("end")
        self.const("}")

    def entry(self, t: Template) -> None:
        """A comprehension entry: ``{"0":...,"1":...}`` (no fingerprint, no statics)."""
        self.const("{")
        for i, part in enumerate(t.parts):
            self.const(f'"{i}":' if i == 0 else f',"{i}":')
            self.part(part)
        self.const("}")

    def part(self, part: Expr | If | For) -> None:
        if isinstance(part, Expr):
            code = self.expr(part.code, part.line)
            self.stmt(f"_hl_n = _hl_D(_hl_b, _hl_n, {code}, {'true' if part.raw else 'false'})", part.line)
        elif isinstance(part, If):
            for k, (cond, body) in enumerate(part.branches):
                self.stmt(f"{'if' if k == 0 else 'elseif'} {self.expr(cond, part.line)} then", part.line)
                self.template(body, False)
            self.stmt("else")
            if part.default is not None:
                self.template(part.default, False)
            else:
                self.const('""')
            self.stmt("end")
        else:
            self.loop(part)

    def loop(self, part: For) -> None:
        var, line = part.var, part.line
        if var in _LUA_KEYWORDS or var.startswith("_hl_"):
            raise TemplateError(f"template line {line}: {var!r} cannot be a Lua loop variable",
                                details={"line": line})
        self.depth += 1
        d = self.depth
        items, ops, keys, i = f"_hl_items{d}", f"_hl_ops{d}", f"_hl_keys{d}", f"_hl_i{d}"
        self.stmt("do")
        self.stmt(f"local {items} = {self.expr(part.iterable, line)}", line)
        self.stmt(f"local {ops} = _hl_getmetatable({items}) == _hl_StreamOps and {items} or nil")
        if part.key is None:
            need = f"template line {line}: a stream needs a key: {{% for {var} in {part.iterable} key {var}.id %}}"
            self.stmt(f"if {ops} then _hl_error({_lua_str(need)}, 0) end")
        self.stmt(f"if {ops} then {items} = {ops}.items end")
        self.stmt(f"local {keys} = {{}}")
        self.const(f'{{"f":{part.body.fingerprint},"s":0,"k":{{')
        self.stmt(f"for {i}, {var} in _hl_ipairs({items} or {{}}) do", line)
        self.stmt(f"_hl_n = _hl_n + 1; _hl_b[_hl_n] = {i} == 1 and '\"0\":' or ',\"' .. ({i} - 1) .. '\":'")
        self.entry(part.body)
        key = self.expr(part.key, line) if part.key else "nil"
        self.stmt(f"{keys}[{i}] = _hl_K({key}, {i})", line)
        self.stmt("end")
        self.stmt(f"_hl_n = _hl_n + 1; _hl_b[_hl_n] = (#{keys} == 0 and '\"kc\":0' or ',\"kc\":' .. #{keys}) "
                  f"..'}},\"keys\":[' .. _hl_concat({keys}, ',') .. ']'")
        self.stmt(f"if {ops} then _hl_n = _hl_n + 1; _hl_b[_hl_n] = _hl_stream_json({ops}, {keys}) end")
        self.const("}")
        self.stmt("end")
        self.depth -= 1


_HEADER = """local _hl_RT = ...
local _hl_D, _hl_K, _hl_StreamOps, _hl_stream_json = _hl_RT.D, _hl_RT.K, _hl_RT.StreamOps, _hl_RT.stream_json
local _hl_ipairs, _hl_getmetatable = _hl_RT.ipairs, _hl_RT.getmetatable
local _hl_concat, _hl_error = _hl_RT.concat, _hl_RT.error
return function(_hl_b, _hl_n, _ENV, _hl_ch)"""

_CODE: dict[str, tuple[str, list[int], list[Any]]] = {}


def lua_render_source(source: str) -> tuple[str, list[int], list[Any]]:
    """The Lua render function of template ``source`` (cached per process).

    Returns:
        ``(code, linemap, exprs)``: ``code`` is a chunk taking the helper table of
        ``hype.live`` and returning ``render(buffer, n, env, changed) -> n``, which appends
        ``{"f":fp,"s":0,"0":dyn,...}`` as JSON text to ``buffer`` (``changed``: set of
        changed assign names, nil for all); ``linemap[k]`` is the template line of
        generated line ``k + 1`` (0: none); ``exprs`` is ``[expression, template line, ...]``
        for the Lua side to check one by one (a syntax error names its line).
    Raises:
        TemplateError: the template does not compile, a loop variable is a Lua keyword,
            an expression uses a reserved ``_hl_`` name.
    """
    hit = _CODE.get(source)
    if hit is not None:
        return hit
    t = compiled(source)
    g = _Gen()
    header = _HEADER.split("\n")
    g.lines, g.map = list(header), [0] * len(header)
    g.template(t, top=True)
    g.flush()
    g.lines += ["return _hl_n", "end"]
    g.map += [0, 0]
    out = ("\n".join(g.lines), g.map, g.exprs)
    _CODE[source] = out
    return out


def _all_templates(t: Template) -> Any:
    yield t
    for p in t.parts:
        if isinstance(p, If):
            for _, body in p.branches:
                yield from _all_templates(body)
            if p.default is not None:
                yield from _all_templates(p.default)
        elif isinstance(p, For):
            yield from _all_templates(p.body)


# ----------------------------------------------------------------------------- host
class LiveHost:
    """Per-runtime state of ``hype.live``: the Lua module's functions, live instances by id,
    statics by fingerprint, the render contexts in use, the hook timeout.

    Attributes:
        views: instance id -> :class:`LuaView` / :class:`LuaComponent` (weak).
        statics: fingerprint -> statics of every template compiled in this runtime.
        timeout: seconds a hook or render may run before ``TIMEOUT`` (None: no limit).
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.module: dict[str, LuaFunction] = {}
        self.views: weakref.WeakValueDictionary[int, _LuaInstance] = weakref.WeakValueDictionary()
        self.statics: dict[int, list[str]] = {}
        self.contexts: list[Context] = []
        self.component_classes: dict[int, LuaComponentClass] = {}
        self.timeout: float | None = None
        self._next_id = 0
        self._dead: list[int] = []
        self._message = ""

    @classmethod
    def of(cls, rt: Runtime) -> LiveHost:
        """The runtime's host (created on first use)."""
        host = getattr(rt, "_live_host", None)
        if host is None:
            host = cls(rt)
            rt._live_host = host  # type: ignore[attr-defined]
        return host

    def lua_table(self) -> dict[str, Any]:
        """The host table handed to ``lua/hype/live.lua``."""
        return {
            "bind": self._bind,
            "compile": self._compile,
            "component": self._component,
            "service": self._service,
            "broadcast": self.rt.loop.register_async(None, self._broadcast),
            "validate": self._validate,
            "connected": self._connected,
            "rearm": self.rearm,
            "log_error": self._log_error,
        }

    def _bind(self, fns: dict[str, Any]) -> None:
        self.module = dict(fns)

    def ensure_module(self) -> dict[str, LuaFunction]:
        """Load ``hype.live`` into the runtime (if no Lua code required it yet)."""
        if not self.module:
            self.rt.execute('require("hype.live")', chunkname="=(hype live)")
        return self.module

    def set_timeout(self, timeout: float | None) -> None:
        """Stop hooks and renders running longer than ``timeout`` seconds (the runtime's watch hook)."""
        self.timeout = timeout
        if timeout is None:
            return
        rt = self.rt
        if not rt.watching:
            rt.watch(every=100_000)
        if rt.loop.before_tick is None:  # timers and promises between events run under the deadline too
            rt.loop.before_tick = self.rearm

    def rearm(self) -> None:
        """Re-arm the watch deadline (per entry into Lua; after a fired TIMEOUT)."""
        t = self.timeout
        if t is not None:
            if not self._message:
                self._message = f"the live view ran longer than {t:g} s"
            self.rt.set_deadline(t, message=self._message)

    # --- instances
    def new_instance(self, def_id: int, obj: _LuaInstance) -> int:
        """A new Lua instance of definition ``def_id`` driven by ``obj``; returns its id."""
        module = self.ensure_module()
        if self._dead:
            dead, self._dead = self._dead, []
            self.rt.vm.call(module["free"], *dead)
        self._next_id += 1
        iid = self._next_id
        self.rt.vm.call(module["new"], def_id, iid)
        self.views[iid] = obj
        weakref.finalize(obj, self._dead.append, iid)
        return iid

    def meta(self, def_id: int) -> tuple[str, frozenset[str], dict[str, Any] | None, frozenset[str]]:
        """(kind "view"/"component", extra events, JSON Schema or None, hooks defined) of a definition."""
        kind, events, schema, hooks = self.rt.vm.call(self.ensure_module()["meta"], def_id)
        return (str(kind), frozenset(_seq(events)), schema if isinstance(schema, dict) and schema else None,
                frozenset(_seq(hooks)))

    def object_hook(self, d: dict[str, Any]) -> dict[str, Any]:
        """``json.loads`` hook: a nested render's ``"s"`` placeholder -> its statics."""
        if "s" in d:
            d["s"] = self.statics[d["f"]]
        return d

    # --- called by Lua
    def _compile(self, source: str) -> Any:
        try:
            code, linemap, exprs = lua_render_source(source)
            for t in _all_templates(compiled(source)):
                self.statics[t.fingerprint] = t.statics
        except TemplateError as exc:
            return None, exc.code, {"message": exc.message, "line": int(exc.details.get("line", 0) or 0)}
        return code, linemap, exprs

    def _component(self, def_id: int, cid: Any, assigns: Any) -> Any:
        ctx = self.contexts[-1] if self.contexts else None
        if ctx is None or ctx.component is None:
            return None
        cls = self.component_classes.get(def_id)
        if cls is None:
            cls = LuaComponentClass(self, def_id)
            self.component_classes[def_id] = cls
        return ctx.component(ComponentCall(cls, cid, assigns if isinstance(assigns, dict) else {}))

    def _session_of(self, iid: int) -> Any:
        obj = self.views.get(iid)
        session = getattr(obj, "_session", None) if obj is not None else None
        if session is None and isinstance(obj, LuaComponent) and obj.view is not None:
            session = getattr(obj.view, "_session", None)
        if session is None:
            raise LiveError("this view is not running in a session", code="NOT_JOINED")
        return session

    def _service(self, iid: int, name: str, *args: Any) -> None:
        getattr(self._session_of(iid), name)(*args)

    async def _broadcast(self, iid: int, topic: str, msg: Any) -> None:
        if iid:
            await self._session_of(iid).broadcast(topic, msg)
            return
        module = importlib.import_module("hypelua.live")
        fn = getattr(module, "broadcast", None)
        if fn is None:
            raise LiveError("live.broadcast outside a view needs a session", code="NOT_JOINED")
        result = fn(topic, msg)
        if hasattr(result, "__await__"):
            await result

    def _validate(self, data: Any, schema: Any) -> dict[str, str]:
        from ._forms import validate

        return validate(data if isinstance(data, dict) else {}, schema if isinstance(schema, dict) else {})

    def _log_error(self, message: str, tb: str) -> None:
        log.error("hype.live: %s\n%s", message, tb)

    def _connected(self, iid: int) -> bool:
        obj = self.views.get(iid)
        return bool(obj is not None and obj.connected)


def _seq(v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return [v[k] for k in sorted(v) if isinstance(k, int)]
    return []


# ----------------------------------------------------------------------------- instances
class _LuaInstance:
    """What Lua views and components share: an instance in the Lua module, rendering, state."""

    def __init__(self, host: LiveHost, def_id: int) -> None:
        self._host = host
        self._def_id = def_id
        self._vm = host.rt.vm
        _, self._extra_events, self._schema, self._hooks = host.meta(def_id)
        self._iid = host.new_instance(def_id, self)
        self._prev: dict[str, Any] | None = None
        self._template: Template | None = None
        self._template_source: str | None = None
        self._session: Any = None

    @property
    def connected(self) -> bool:
        """True once a client joined (False while rendering the first HTML page)."""
        return bool(self._session is not None and self._session.connected)

    @property
    def assigns(self) -> dict[str, Any]:
        """A copy of the JSON-serialisable assigns (the Lua table is the state)."""
        return self._lv_snapshot()

    def _lv_template(self) -> Template:
        """The compiled template (``render(self)`` or the definition's ``template``)."""
        self._host.rearm()
        try:
            (source,) = self._vm.call(self._host.module["source"], self._iid)
        except HypeError as exc:
            raise LiveError(f"render(self) failed: {exc.message}", code="VIEW_CRASHED",
                            details={"hook": "render", "error_code": exc.code}) from None
        if source != self._template_source or self._template is None:
            self._template = compiled(source)
            self._template_source = source
        return self._template

    def _lv_render(self, ctx: Context, myself: Any = None) -> dict[str, Any]:
        """The current render (Phoenix's format); only parts reading a changed assign are evaluated.

        Raises:
            TemplateError: ``TEMPLATE_SYNTAX`` (the template or an expression does not
                compile; ``details["line"]``), ``TEMPLATE_RUNTIME`` (an expression raised;
                ``details``: ``line``, ``error_code``, ``traceback``).
        """
        host = self._host
        host.contexts.append(ctx)
        host.rearm()
        try:
            res = self._vm.call(host.module["render"], self._iid, self._prev is None, myself)
        finally:
            host.contexts.pop()
        if not res[0]:
            _, code, message, line, tb = res
            if code == "TEMPLATE_SYNTAX":
                raise TemplateError(message, code=code, details={"line": line or 0})
            where = f"template line {line}: " if line else ""
            raise TemplateError(f"{where}{message}", code="TEMPLATE_RUNTIME",
                                details={"line": line or 0, "error_code": code, "traceback": tb or ""},
                                suggestion="Check the expression at that line of the template.")
        _, text, new_source = res
        if type(text) is bytes:
            text = text.decode("utf-8", "replace")
        new = json.loads(text, object_hook=host.object_hook)
        if new_source:
            self._template = compiled(new_source)
            self._template_source = new_source
            out = new
        elif self._prev is not None:
            out = {**self._prev, **new}
        else:
            out = new
        self._prev = out
        return out

    def _lv_dirty(self) -> bool:
        return bool(self._vm.call(self._host.module["dirty"], self._iid)[0])

    def _lv_snapshot(self) -> dict[str, Any]:
        """The JSON-serialisable assigns (what a re-mount restores)."""
        (text,) = self._vm.call(self._host.module["snapshot"], self._iid)
        if type(text) is bytes:
            text = text.decode("utf-8", "replace")
        return json.loads(text)

    def _lv_restore(self, snapshot: Mapping[str, Any]) -> None:
        self._vm.call(self._host.module["restore"], self._iid, dict(snapshot))

    def _lv_memory(self) -> int:
        """Approximate bytes held by this view's assigns and last render."""
        try:
            return len(json.dumps(self._lv_snapshot())) + len(json.dumps(self._prev or {}, default=str))
        except (TypeError, ValueError, HypeError):
            return 0

    def _lv_events(self) -> tuple[frozenset[str], bool]:
        t = self._lv_template()
        return t.events | self._extra_events, t.open_events

    def _lv_schema(self) -> Mapping[str, Any] | None:
        return self._schema

    async def _lv_call(self, hook: str, *args: Any) -> Any:
        """Run Lua hook ``hook(self, *args)`` as an async function (it may ``await``).

        Returns:
            The hook's first result when it is plain data, else None.
        Raises:
            LiveError: ``VIEW_CRASHED`` when the hook raised (``details``: ``hook``,
                ``error_code`` -- ``LUA_RUNTIME_ERROR``, ``TIMEOUT``, ``LUA_MEMORY_ERROR`` --,
                ``traceback``).
        """
        if hook not in self._hooks and hook != "update":
            return None  # not defined: the default does nothing
        rt = self._host.rt
        self._host.rearm()
        try:
            a, b = (*args, None, None)[:2]
            res = await rt.loop.call_async(self._host.module["call"], self._iid, hook, a, b)
        except HypeError as exc:
            raise _crash(hook, exc.code, exc.message, getattr(exc, "traceback", "") or "") from None
        finally:
            rt._commit_if_open()
        return _result(hook, res)

    def _call_sync(self, hook: str, *args: Any) -> Any:
        """A hook run now (component ``mount``/``update`` during a render); one that awaits
        goes on in the background."""
        if hook not in self._hooks and hook != "update":
            return None
        self._host.rearm()
        try:
            a, b = (*args, None, None)[:2]
            (res,) = self._vm.call(self._host.module["call"], self._iid, hook, a, b, True)
        except HypeError as exc:
            raise _crash(hook, exc.code, exc.message, getattr(exc, "traceback", "") or "") from None
        return _result(hook, res)


def _crash(hook: str, code: str, message: str, tb: str) -> LiveError:
    return LiveError(f"{hook}: {message}", code="VIEW_CRASHED",
                     details={"hook": hook, "error_code": code, "traceback": tb},
                     suggestion="The Lua traceback in details shows where the hook failed.")


def _result(hook: str, res: Any) -> Any:
    if isinstance(res, tuple):
        res = res[0] if res else None
    seq = _seq(res)
    if not seq:
        return None
    if seq[0] is True:
        value = seq[1] if len(seq) > 1 else None
        return None if value is False else value
    code, message, tb = [*seq, None, None, None][1:4]
    raise _crash(hook, str(code), str(message), tb if isinstance(tb, str) else "")


class LuaView(_LuaInstance):
    """A Lua ``live.view{...}`` instance, driven by a Session like a :class:`~hypelua.live.LiveView`.

    Made by the factory :func:`load_view` returns (``factory()``), or directly with
    ``LuaView(LiveHost.of(runtime), def_id)``.
    """


class LuaComponent(_LuaInstance):
    """A Lua ``live.component{...}`` instance (a stateful child component, like
    :class:`~hypelua.live.LiveComponent`): ``mount()``, ``update(assigns)``,
    ``handle_event(event, payload)``; its template sees ``myself`` (its ``cid``)."""

    def __init__(self, host: LiveHost, def_id: int) -> None:
        super().__init__(host, def_id)
        self.cid = 0
        self.view: Any = None

    def mount(self) -> Any:
        """Called once, before the first ``update``."""
        return self._call_sync("mount")

    def update(self, assigns: dict[str, Any]) -> Any:
        """New assigns from the caller's template (default: assign them)."""
        return self._call_sync("update", assigns)

    def handle_event(self, event: str, payload: dict[str, Any]) -> Any:
        """An event targeted at this component."""
        return self._call_sync("handle_event", event, payload)

    def _lv_render(self, ctx: Context, myself: Any = None) -> dict[str, Any]:
        return super()._lv_render(ctx, self.cid if myself is None else myself)


class LuaComponentClass:
    """The "class" of a Lua component definition (``ComponentCall.cls``): calling it makes a
    :class:`LuaComponent`.  One per definition and runtime, so it can key a component table."""

    def __init__(self, host: LiveHost, def_id: int) -> None:
        self.host = host
        self.def_id = def_id
        self.__name__ = f"LuaComponent{def_id}"

    def __call__(self) -> LuaComponent:
        return LuaComponent(self.host, self.def_id)

    def __repr__(self) -> str:
        return f"<Lua live.component #{self.def_id}>"


class LuaViewFactory:
    """Makes :class:`LuaView` instances of one ``live.view{...}`` definition (what a Session
    calls where it would instantiate a :class:`~hypelua.live.LiveView` class)."""

    def __init__(self, host: LiveHost, def_id: int, name: str = "LuaView") -> None:
        self.host = host
        self.def_id = def_id
        self.__name__ = name
        self.runtime = host.rt

    def __call__(self) -> LuaView:
        return LuaView(self.host, self.def_id)

    def __repr__(self) -> str:
        return f"<Lua live.view {self.__name__}>"


def register_view(runtime: Runtime, fn: LuaFunction, *, name: str = "LuaView",
                  timeout: float | None = DEFAULT_TIMEOUT) -> LuaViewFactory:
    """Run ``fn`` (a loaded chunk returning ``live.view{...}``) and make a factory of its view.

    Raises:
        LiveError ``LIVE_NOT_A_VIEW``; LuaError from the chunk.
    """
    host = LiveHost.of(runtime)
    module = host.ensure_module()
    host.set_timeout(timeout)
    try:
        (def_id,) = runtime.vm.execute("local fn, register = ...; return register((fn()))", fn, module["register"],
                                       chunkname="=(hype live load)")
    except HypeError as exc:
        if "[LIVE_NOT_A_VIEW]" in exc.message:
            raise LiveError(exc.message.split("] ", 1)[-1], code="LIVE_NOT_A_VIEW",
                            suggestion="End the file with `return live.view{...}`.") from None
        raise
    finally:
        runtime._commit_if_open()
    kind = host.meta(int(def_id))[0]
    if kind != "view":
        raise LiveError(f"{name} returns a live.component, not a live.view", code="LIVE_NOT_A_VIEW",
                        suggestion="Serve a live.view{...}; components are used from a view's template.")
    return LuaViewFactory(host, int(def_id), name)


def load_view(runtime: Runtime, target: str | os.PathLike[str], *,
              timeout: float | None = DEFAULT_TIMEOUT) -> Callable[[], Any]:
    """A view factory from ``target``.

    Args:
        runtime: the runtime Lua views run in.
        target: ``"x.lua"`` (a file returning ``live.view{...}``; relative to
            ``runtime.project_root``, else the working directory) -> a factory of
            :class:`LuaView`; ``"pkg.mod:Cls"`` -> that Python class.
        timeout: seconds a Lua hook or render may run before it is stopped (``TIMEOUT``).
    Raises:
        HypeError ``FILE_NOT_FOUND``; LiveError ``LIVE_NOT_A_VIEW`` / ``NO_VIEW``;
        LuaSyntaxError/LuaError from the file.
    """
    text = os.fspath(target)
    if text.endswith(".lua"):
        from .._runtime import _read_lua_file

        path = Path(text)
        if not path.is_absolute():
            path = Path(runtime.project_root or os.getcwd()) / path
        source, chunkname = _read_lua_file(path.resolve())
        fn = runtime.vm.load(source, chunkname, "t")
        return register_view(runtime, fn, name=path.stem, timeout=timeout)
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise LiveError(f"cannot load a view from {text!r}", code="NO_VIEW",
                        suggestion='Give "file.lua" or "package.module:ClassName".')
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise LiveError(f"cannot load view {text!r}: {exc}", code="NO_VIEW") from None
    return obj  # type: ignore[no-any-return]
