"""Python LiveViews and components (issue 10; names from Phoenix LiveView).

A view is a class: ``template`` (or ``render()`` returning a template source), and the
lifecycle ``mount(params, session)``, ``handle_params(params, uri)``,
``handle_event(event, payload)``, ``handle_info(msg)``, ``updated()``,
``terminate(reason)``; any of them may be ``async def``.  State lives in ``assigns``,
changed with :meth:`LiveView.assign`, which records what changed so only the dynamics
reading a changed assign are evaluated again (Phoenix's change tracking).

The :class:`~hypelua.live._session.Session` drives a view through the ``_lv_*`` methods;
a Lua view (:mod:`hypelua.live._lua`) implements the same methods over a Lua table, so one
session, one protocol and one differ serve both languages.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .._errors import LiveError
from ._pycompile import compile_python
from ._render import ComponentCall, Context, Deferred, StreamOps
from ._template import Template, compile_template

_TEMPLATES: dict[str, Template] = {}


def compiled(source: str) -> Template:
    """The compiled :class:`Template` of ``source`` (compiled once per process)."""
    t = _TEMPLATES.get(source)
    if t is None:
        t = compile_template(source)
        _TEMPLATES[source] = t
    return t


async def maybe_await(value: Any) -> Any:
    """``await value`` when it is awaitable (``async def`` hooks), else ``value``."""
    if inspect.isawaitable(value):
        return await value
    return value


def live_component(cls: type[LiveComponent], id: Any, **assigns: Any) -> ComponentCall:
    """In a template: a stateful child component, identified by ``(cls, id)`` within its view.

    ``{{ live_component(Card, id="c1", title=title) }}``: the first time, the component is
    created (``mount()``); every time, ``update(assigns)`` receives the keyword arguments.
    Events from its elements reach its ``handle_event`` when they carry
    ``hype-target="{{ myself }}"``.
    """
    return ComponentCall(cls, id, assigns)


class FunctionComponent:
    """A stateless component: a template rendered with the keyword arguments it is called
    with (``{{ card(title="x") }}`` renders ``card``'s template as a nested render)."""

    def __init__(self, template: str) -> None:
        self.template = compiled(template)

    def __call__(self, **assigns: Any) -> Deferred:
        return Deferred(self.template, assigns)


def function_component(template: str) -> FunctionComponent:
    """Make a function component from a template source (see :class:`FunctionComponent`)."""
    return FunctionComponent(template)


class _Streams:
    """``assigns["streams"]``: stream name -> :class:`StreamOps` (attribute access in templates)."""

    def __init__(self) -> None:
        self._ops: dict[str, StreamOps] = {}

    def __getattr__(self, name: str) -> StreamOps:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._ops.setdefault(name, StreamOps())

    def __getitem__(self, name: str) -> StreamOps:
        return self._ops.setdefault(name, StreamOps())

    def clear(self) -> None:
        for ops in self._ops.values():
            ops.clear()


_IMMUTABLE = (str, int, float, bool, bytes, type(None), tuple, frozenset)


class _Base:
    """What views and stateful components share: assigns with change tracking, streams."""

    template: ClassVar[str | None] = None
    #: names available to template expressions besides the assigns: components, helpers
    components: ClassVar[Mapping[str, Any]] = {}

    def __init__(self) -> None:
        self.assigns: dict[str, Any] = {}
        self._changed: set[str] | None = None  # None: everything (first render)
        self._prev: dict[str, Any] | None = None
        self._template: Template | None = None

    # -- state -----------------------------------------------------------------------
    def assign(self, mapping: Mapping[str, Any] | None = None, **values: Any) -> None:
        """Set assigns (``self.assign(count=1)`` or ``self.assign({"count": 1})``).

        An assign counts as changed unless its new value is an equal immutable value, so
        lists and dicts changed in place and assigned again are re-rendered.
        """
        if mapping:
            values = {**mapping, **values}
        for name, value in values.items():
            if not isinstance(name, str):
                raise TypeError(f"assign names are strings, not {type(name).__name__}")
            old = self.assigns.get(name, _MISSING)
            self.assigns[name] = value
            if old is not _MISSING and type(value) in _IMMUTABLE and type(old) is type(value) and old == value:
                continue
            if self._changed is not None:
                self._changed.add(name)

    def update(self, name: str, fn: Callable[[Any], Any]) -> None:
        """``assign(name=fn(assigns[name]))``."""
        self.assign({name: fn(self.assigns.get(name))})

    def stream(self, name: str, items: Any, *, at: int = -1, reset: bool = False) -> None:
        """Insert ``items`` into stream ``name`` (rendered once, not kept by the server).

        Render it with ``{% for item in streams.NAME key item.id %}``; ``at`` -1 appends,
        0 prepends; ``reset`` empties the client's entries first.
        """
        ops = self._streams()[name]
        if reset:
            ops.clear()
            ops.reset = True
        for item in items:
            ops.inserts.append((item, at))
        self._mark("streams")

    def stream_insert(self, name: str, item: Any, *, at: int = -1) -> None:
        """Insert (or, same key, replace in place) one item of stream ``name``."""
        self._streams()[name].inserts.append((item, at))
        self._mark("streams")

    def stream_delete(self, name: str, key: Any) -> None:
        """Remove the entry whose key is ``key`` from stream ``name`` on the client."""
        self._streams()[name].deletes.append(key)
        self._mark("streams")

    def _streams(self) -> _Streams:
        streams = self.assigns.get("streams")
        if not isinstance(streams, _Streams):
            streams = _Streams()
            self.assigns["streams"] = streams
        return streams

    def _mark(self, name: str) -> None:
        if self._changed is not None:
            self._changed.add(name)

    # -- rendering (driven by the session) -------------------------------------------
    def render(self) -> str | None:
        """A template source chosen at render time (default: the class's ``template``)."""
        return self.template

    def _lv_template(self) -> Template:
        source = self.render()
        if source is None:
            raise LiveError(f"{type(self).__name__} has neither a template nor a render()",
                            code="NO_TEMPLATE", suggestion="Set template = '...' on the class.")
        if self._template is None or self._template_source != source:
            self._template = compiled(source)
            self._template_source = source
            self._prev = None
        return self._template

    def _lv_render(self, ctx: Context) -> dict[str, Any]:
        """The current render; only parts reading a changed assign are evaluated."""
        t = self._lv_template()
        scope = {"live_component": live_component, **self.components, **self.assigns}
        changed = self._changed
        out = compile_python(t)(scope, ctx, changed if self._prev is not None else None, self._prev)
        self._prev = out
        self._changed = set()
        streams = self.assigns.get("streams")
        if isinstance(streams, _Streams):
            streams.clear()
        return out

    def _lv_dirty(self) -> bool:
        return self._changed is None or bool(self._changed)

    def _lv_snapshot(self) -> dict[str, Any]:
        """The JSON-serialisable assigns (what a re-mount restores)."""
        out: dict[str, Any] = {k: v for k, v in self.assigns.items() if k != "streams"}
        try:
            json.dumps(out)
            return out
        except (TypeError, ValueError):
            out = {}
        for k, v in self.assigns.items():
            if k == "streams":
                continue
            try:
                json.dumps(v)
            except (TypeError, ValueError):
                continue
            out[k] = v
        return out

    def _lv_restore(self, snapshot: Mapping[str, Any]) -> None:
        self.assign(dict(snapshot))

    def _lv_memory(self) -> int:
        """Approximate bytes held by this view's assigns and last render."""
        try:
            return len(json.dumps(self._lv_snapshot())) + len(json.dumps(self._prev or {}, default=str))
        except (TypeError, ValueError):
            return 0


_MISSING = object()


class LiveView(_Base):
    """A LiveView (Phoenix LiveView's lifecycle). Subclass it::

        class Counter(live.LiveView):
            template = '<h1>{{ count }}</h1><button hype-on:click="inc">+</button>'
            def mount(self, params, session): self.assign(count=0)
            def handle_event(self, event, payload): self.assign(count=self.assigns["count"] + 1)

    Class attributes: ``template`` (source), ``events`` (event names accepted besides those
    the template's ``hype-on:*`` attributes name), ``schema`` (JSON Schema of the form
    ``hype-model`` fields and submits are validated with), ``components`` (names the
    template may call: components, helpers).
    """

    events: ClassVar[frozenset[str] | tuple[str, ...]] = ()
    schema: ClassVar[dict[str, Any] | None] = None

    def __init__(self) -> None:
        super().__init__()
        self._session: Any = None  # set by the Session

    # -- lifecycle (override) ---------------------------------------------------------
    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> Any:
        """Set the initial assigns. ``params``: query string and path parameters (str values)
        plus the client's connect params; ``session``: the signed session's data."""

    def handle_params(self, params: dict[str, Any], uri: str) -> Any:
        """After mount and on every live patch (``push_patch``, ``hype-patch`` links)."""

    def handle_event(self, event: str, payload: dict[str, Any]) -> Any:
        """An event from the page (``hype-on:click="inc"`` sends ``"inc"``)."""

    def handle_info(self, msg: Any) -> Any:
        """A message from pub/sub (:meth:`subscribe`) or :meth:`send_info`."""

    def updated(self) -> Any:
        """After every render that sent a diff."""

    def terminate(self, reason: str) -> Any:
        """The session ends: ``"leave"``, ``"timeout"`` (disconnected past the grace
        period), ``"shutdown"``, ``"crash"``."""

    # -- services (delegated to the session) ------------------------------------------
    def subscribe(self, topic: str) -> None:
        """Receive :func:`hypelua.live.broadcast` messages of ``topic`` in ``handle_info``."""
        self._need_session().subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``."""
        self._need_session().unsubscribe(topic)

    async def broadcast(self, topic: str, msg: Any) -> None:
        """Send ``msg`` (JSON-able) to every view subscribed to ``topic`` (this one included)."""
        await self._need_session().broadcast(topic, msg)

    def send_info(self, msg: Any, after_ms: float = 0) -> None:
        """Deliver ``msg`` to this view's ``handle_info`` (after ``after_ms`` milliseconds)."""
        self._need_session().send_info(msg, after_ms)

    def push_patch(self, to: str) -> None:
        """Change the page's URL in place (``history.pushState``) and run ``handle_params``."""
        self._need_session().push_patch(to)

    def push_redirect(self, to: str) -> None:
        """Navigate the page to ``to`` (a full page load)."""
        self._need_session().push_redirect(to)

    def validate(self, data: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Validate ``data`` against ``schema`` (default: the class's ``schema``) with JSON
        Schema; assigns ``errors`` (field -> message, ``""`` key for form-level errors) and
        returns it (empty when valid).  Form strings are first coerced to the schema's
        ``integer``/``number``/``boolean`` property types."""
        from ._forms import coerce, validate

        schema = schema if schema is not None else (self.schema or {})
        errors = validate(coerce(data, schema), schema)
        self.assign(errors=errors)
        return errors

    @property
    def connected(self) -> bool:
        """True once a client joined (False while rendering the first HTML page)."""
        return bool(self._session is not None and self._session.connected)

    def _need_session(self) -> Any:
        if self._session is None:
            raise LiveError("this view is not running in a session", code="NOT_JOINED")
        return self._session

    # -- driven by the session -----------------------------------------------------------
    def _lv_events(self) -> tuple[frozenset[str], bool]:
        t = self._lv_template()
        return t.events | frozenset(self.events), t.open_events

    async def _lv_call(self, hook: str, *args: Any) -> Any:
        return await maybe_await(getattr(self, hook)(*args))

    def _lv_schema(self) -> Mapping[str, Any] | None:
        return self.schema


class LiveComponent(_Base):
    """A stateful child component, created by ``live_component(Cls, id=...)`` in a
    template.  ``mount()`` once, ``update(assigns)`` on every render of the caller
    (default: assign them), ``handle_event(event, payload)`` for events whose element
    carries ``hype-target="{{ myself }}"``.  Its template sees its own assigns and
    ``myself`` (its component id)."""

    def __init__(self) -> None:
        super().__init__()
        self.cid = 0
        self.view: LiveView | None = None

    def mount(self) -> Any:
        """Called once, before the first ``update``."""

    def update(self, assigns: dict[str, Any]) -> Any:
        """New assigns from the caller's template (default: ``self.assign(assigns)``)."""
        self.assign(assigns)

    def handle_event(self, event: str, payload: dict[str, Any]) -> Any:
        """An event targeted at this component."""

    def _lv_render(self, ctx: Context) -> dict[str, Any]:
        self.assigns.setdefault("myself", self.cid)
        return super()._lv_render(ctx)
