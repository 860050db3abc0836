"""LiveView templates: compiled once into statics and dynamics (Phoenix LiveView's model).

Syntax (issue 10): ``{{ expr }}`` (escaped; ``{{ raw(expr) }}`` is not),
``{% if c %}...{% elif c %}...{% else %}...{% end %}`` and
``{% for item in items key item.id %}...{% end %}`` (``key`` optional).

A template compiles to a :class:`Template`: ``statics`` (the literal text between
dynamic parts, ``len(statics) == len(parts) + 1``), ``parts`` (:class:`Expr`,
:class:`If`, :class:`For`) and a ``fingerprint`` of its structure.  Expressions are
kept as source text: the language back-end compiles them (Python ``eval`` for Python
views, Lua for Lua views), so one compiler serves both.  Each part records the
names it reads (``names``), which change tracking uses to skip parts whose assigns
did not change.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from .._errors import TemplateError

_TAG = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
_FOR = re.compile(r"^for\s+([A-Za-z_]\w*)\s+in\s+(.+?)(?:\s+key\s+(.+))?$", re.S)
_NAME = re.compile(r"[A-Za-z_]\w*")
_KEYWORDS = frozenset(("and", "or", "not", "in", "is", "if", "else", "None", "True", "False", "nil", "true",
                       "false", "raw", "for", "lambda"))


@dataclass
class Expr:
    """``{{ code }}``: escaped unless ``raw``."""

    code: str
    raw: bool
    names: frozenset[str]
    line: int = 0  # template line (error messages)


@dataclass
class If:
    """``{% if %}`` chain: ``branches`` of (condition code, body); ``default`` for ``else``."""

    branches: list[tuple[str, Template]]
    default: Template | None
    names: frozenset[str]
    line: int = 0  # template line of the ``{% if %}``


@dataclass
class For:
    """``{% for var in iterable key key_code %}``: ``body`` rendered per item."""

    var: str
    iterable: str
    key: str | None
    body: Template
    names: frozenset[str]
    line: int = 0  # template line of the ``{% for %}``


@dataclass
class Template:
    """Compiled template: statics around parts, and a structural fingerprint.

    ``events`` are the event names its ``hype-on:*`` attributes send (the session refuses
    others with ``UNKNOWN_EVENT``); ``open_events`` is true when an event name is computed
    (``hype-on:click="{{ name }}"``), so any name is accepted.
    """

    statics: list[str]
    parts: list[Expr | If | For]
    fingerprint: int = field(default=0)
    events: frozenset[str] = field(default=frozenset())
    open_events: bool = False


def _names(code: str) -> frozenset[str]:
    """Identifiers an expression reads (its first name of each dotted path; string literals skipped)."""
    stripped = re.sub(r"'[^']*'|\"[^\"]*\"", "", code)
    out = set()
    for m in _NAME.finditer(stripped):
        start = m.start()
        if start > 0 and stripped[start - 1] == ".":
            continue  # an attribute/field, not a variable
        if m.group() not in _KEYWORDS:
            out.add(m.group())
    return frozenset(out)


def all_names(t: Template) -> frozenset[str]:
    """Every name the parts of ``t`` read (nested bodies included; loop variables excluded)."""
    out: set[str] = set()
    for p in t.parts:
        out |= p.names
    return frozenset(out)


def _line(source: str, pos: int) -> int:
    return source.count("\n", 0, pos) + 1


def _fingerprint(t: Template) -> int:
    h = hashlib.blake2b(digest_size=8)
    _feed(h, t)
    return int.from_bytes(h.digest(), "big") >> 13  # 51 bits: exact as a JavaScript number


def _feed(h: Any, t: Template) -> None:
    for s in t.statics:
        h.update(b"S")
        h.update(s.encode())
    for p in t.parts:
        if isinstance(p, Expr):
            h.update(b"E" + (b"r" if p.raw else b"e"))
        elif isinstance(p, If):
            h.update(b"I%d" % len(p.branches))
            for _, body in p.branches:
                _feed(h, body)
            if p.default is not None:
                h.update(b"D")
                _feed(h, p.default)
        else:
            h.update(b"F")
            _feed(h, p.body)


def compile_template(source: str) -> Template:
    """Compile ``source`` into a :class:`Template` (statics, parts, fingerprint).

    Raises:
        TemplateError: an unclosed ``{{``/``{%``, an unknown tag, ``elif``/``else``/``end``
            without their ``if``/``for``, a missing ``{% end %}``, an empty expression.
    """
    if not isinstance(source, str):
        raise TemplateError(f"a template is a string, not {type(source).__name__}", code="TEMPLATE_TYPE")
    source = expand_directives(source)
    tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
    pos = 0
    for m in _TAG.finditer(source):
        tokens.append(("text", source[pos:m.start()], pos))
        if m.group(1) is not None:
            tokens.append(("expr", m.group(1).strip(), m.start()))
        else:
            tokens.append(("tag", m.group(2).strip(), m.start()))
        pos = m.end()
    rest = source[pos:]
    for opener in ("{{", "{%"):
        if opener in rest:
            at = pos + rest.index(opener)
            raise TemplateError(f"unclosed {opener} at line {_line(source, at)}", details={"line": _line(source, at)})
    tokens.append(("text", rest, pos))
    template, _, _ = _block(tokens, 0, source, top=True)
    events: set[str] = set()
    open_events = False
    for m in _EVENT_ATTR.finditer(source):
        value = m.group(1) if m.group(1) is not None else m.group(2)
        if "{{" in value or "{%" in value:
            open_events = True
        else:
            events.add(value.strip())
    template.events = frozenset(events)
    template.open_events = open_events
    return template


_EVENT_ATTR = re.compile(r"""\shype-on:[\w.-]+\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_DIRECTIVE = re.compile(r"""<([A-Za-z][\w-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)\s(hype-(?:if|text|class))"""
                        r"""\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_CLASS_PAIR = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)"|([\w-]+))\s*:\s*((?:[^,'"]|'[^']*'|"[^"]*")+)""")
_VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr"))


def expand_directives(source: str) -> str:
    """Rewrite the LiveTS template directives into tags, before compiling (language-neutral).

    * ``<el hype-if="cond">...</el>`` -> ``{% if cond %}<el>...</el>{% end %}``
    * ``<el hype-text="expr">...</el>`` -> ``<el>{{ expr }}</el>`` (children replaced)
    * ``<el class="a" hype-class="{ 'active': cond, 'x': other }">`` ->
      ``<el class="a{% if cond %} active{% end %}{% if other %} x{% end %}">``

    Raises:
        TemplateError: a directive on an element that is never closed, or a ``hype-class``
            that is not ``{ 'name': condition, ... }``.
    """
    while True:
        m = _DIRECTIVE.search(source)
        if m is None:
            return source
        tag, directive = m.group(1), m.group(3)
        value = m.group(4) if m.group(4) is not None else m.group(5)
        line = _line(source, m.start())
        # the start tag without this attribute
        start_end = _tag_end(source, m.end())
        if start_end < 0:
            raise TemplateError(f"unclosed <{tag}> at line {line}", details={"line": line})
        rest_of_tag = source[m.end():start_end]
        head = source[m.start():m.start(3) - 1].rstrip() + rest_of_tag  # '<tag attrs... ' minus the directive
        self_closing = head.rstrip().endswith("/") or tag.lower() in _VOID
        if directive == "hype-class":
            body = value.strip()
            if not (body.startswith("{") and body.endswith("}")):
                raise TemplateError(f"hype-class at line {line} must be {{ 'name': condition, ... }}",
                                    details={"line": line})
            extra = ""
            for pair in _split_top(body[1:-1]):
                if not pair.strip():
                    continue
                pm = _CLASS_PAIR.fullmatch(pair)
                if pm is None:
                    raise TemplateError(f"hype-class at line {line}: cannot read {pair.strip()!r}",
                                        details={"line": line})
                name = pm.group(1) or pm.group(2) or pm.group(3)
                extra += f"{{% if {pm.group(4).strip()} %}} {name}{{% end %}}"
            cm = re.search(r"""\sclass\s*=\s*(?:"([^"]*)"|'([^']*)')""", head)
            if cm:
                classes = cm.group(1) if cm.group(1) is not None else cm.group(2)
                head = head[:cm.start()] + f' class="{classes}{extra}"' + head[cm.end():]
            else:
                closing = " /" if head.rstrip().endswith("/") else ""
                head = head.rstrip("/").rstrip() + f' class="{extra.lstrip()}"' + closing
            source = source[:m.start()] + head + ">" + source[start_end + 1:]
            continue
        if self_closing:
            close_start = close_end = start_end + 1
        else:
            close_start, close_end = _matching_close(source, tag, start_end + 1)
            if close_start < 0:
                raise TemplateError(f"<{tag} {directive}> at line {line} is never closed", details={"line": line})
        if directive == "hype-if":
            source = (source[:m.start()] + f"{{% if {value} %}}" + head + ">" + source[start_end + 1:close_end]
                      + "{% end %}" + source[close_end:])
        else:  # hype-text
            if self_closing:
                raise TemplateError(f"hype-text on <{tag}/> at line {line}: the element has no content",
                                    details={"line": line})
            source = (source[:m.start()] + head + ">" + f"{{{{ {value} }}}}" + source[close_start:])


def _tag_end(source: str, pos: int) -> int:
    """Index of the ``>`` closing the start tag that continues at ``pos`` (quotes respected)."""
    quote = ""
    for i in range(pos, len(source)):
        c = source[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == ">":
            return i
    return -1


def _matching_close(source: str, tag: str, pos: int) -> tuple[int, int]:
    """(start, end) of the ``</tag>`` matching an element opened before ``pos`` (same-name nesting counted)."""
    pattern = re.compile(rf"<(/?){re.escape(tag)}(?=[\s/>])[^>]*>", re.I)
    depth = 1
    for m in pattern.finditer(source, pos):
        if m.group(1):
            depth -= 1
            if depth == 0:
                return m.start(), m.end()
        elif not m.group(0).endswith("/>"):
            depth += 1
    return -1, -1


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes and brackets."""
    out, depth, quote, cur = [], 0, "", ""
    for c in text:
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += c
    out.append(cur)
    return out


def _block(tokens: list[tuple[str, str, int]], i: int, source: str, top: bool = False
           ) -> tuple[Template, int, tuple[str, str, int] | None]:
    """Parse until an ``elif``/``else``/``end`` tag (returned) or the end of input."""
    statics = [""]
    parts: list[Expr | If | For] = []
    while i < len(tokens):
        kind, text, at = tokens[i]
        i += 1
        if kind == "text":
            statics[-1] += text
            continue
        line = _line(source, at)
        if kind == "expr":
            if not text:
                raise TemplateError(f"empty {{{{ }}}} at line {line}", details={"line": line})
            raw = False
            m = re.fullmatch(r"raw\((.*)\)", text, re.S)
            if m:
                raw, text = True, m.group(1).strip()
            parts.append(Expr(text, raw, _names(text), line))
            statics.append("")
            continue
        word = text.split(None, 1)[0] if text else ""
        if word in ("elif", "else", "end"):
            if top:
                raise TemplateError(f"{{% {word} %}} without an open if/for at line {line}", details={"line": line})
            t = Template(statics, parts)
            t.fingerprint = _fingerprint(t)
            return t, i, (word, text, at)
        if word == "if":
            cond = text[2:].strip()
            if not cond:
                raise TemplateError(f"{{% if %}} without a condition at line {line}", details={"line": line})
            branches: list[tuple[str, Template]] = []
            default = None
            names = set(_names(cond))
            while True:
                body, i, closer = _block(tokens, i, source)
                if closer is None:
                    raise TemplateError(f"{{% if %}} at line {line} has no {{% end %}}", details={"line": line})
                branches.append((cond, body))
                cword, ctext, cat = closer
                if cword == "elif":
                    cond = ctext[4:].strip()
                    names |= _names(cond)
                    continue
                if cword == "else":
                    default, i, closer = _block(tokens, i, source)
                    if closer is None or closer[0] != "end":
                        raise TemplateError(f"{{% else %}} at line {_line(source, cat)} needs {{% end %}}",
                                            details={"line": _line(source, cat)})
                break
            for _, body in branches:
                names |= all_names(body)
            if default is not None:
                names |= all_names(default)
            parts.append(If(branches, default, frozenset(names), line))
            statics.append("")
            continue
        if word == "for":
            m = _FOR.match(text)
            if not m:
                raise TemplateError(f"bad for tag at line {line}: expected 'for x in items [key expr]'",
                                    details={"line": line})
            var, iterable, key = m.group(1), m.group(2).strip(), m.group(3)
            body, i, closer = _block(tokens, i, source)
            if closer is None or closer[0] != "end":
                raise TemplateError(f"{{% for %}} at line {line} has no {{% end %}}", details={"line": line})
            inner = (all_names(body) | (_names(key) if key else frozenset())) - {var}
            parts.append(For(var, iterable, key.strip() if key else None, body, _names(iterable) | inner, line))
            statics.append("")
            continue
        raise TemplateError(f"unknown tag {{% {text} %}} at line {line}", details={"line": line})
    t = Template(statics, parts)
    if not top:
        return t, i, None
    t.fingerprint = _fingerprint(t)
    return t, i, None
