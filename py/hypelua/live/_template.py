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

from .._errors import HypeError


class TemplateError(HypeError):
    """A template that does not compile (``TEMPLATE_SYNTAX``), with the line in ``details``."""

    default_code = "TEMPLATE_SYNTAX"
    default_suggestion = "Check the {{ }} and {% %} tags near the line given."


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


@dataclass
class If:
    """``{% if %}`` chain: ``branches`` of (condition code, body); ``default`` for ``else``."""

    branches: list[tuple[str, Template]]
    default: Template | None
    names: frozenset[str]


@dataclass
class For:
    """``{% for var in iterable key key_code %}``: ``body`` rendered per item."""

    var: str
    iterable: str
    key: str | None
    body: Template
    names: frozenset[str]


@dataclass
class Template:
    """Compiled template: statics around parts, and a structural fingerprint."""

    statics: list[str]
    parts: list[Expr | If | For]
    fingerprint: int = field(default=0)


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
    return int.from_bytes(h.digest(), "big") >> 1  # fits a JSON-safe 63-bit integer


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
    return template


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
            parts.append(Expr(text, raw, _names(text)))
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
            parts.append(If(branches, default, frozenset(names)))
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
            parts.append(For(var, iterable, key.strip() if key else None, body, _names(iterable) | inner))
            statics.append("")
            continue
        raise TemplateError(f"unknown tag {{% {text} %}} at line {line}", details={"line": line})
    t = Template(statics, parts)
    if not top:
        return t, i, None
    t.fingerprint = _fingerprint(t)
    return t, i, None
