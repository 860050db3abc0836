"""Function persistence: authentication of bytecode and recovery of source text.

A persisted function's bytecode is authenticated with HMAC-SHA256 under a key
kept per database (``meta`` entry ``hmac_key``, 32 random bytes) or given by
the application.  The MAC covers the bytecode, the source text, the C-function
name and the chunk name, each length-prefixed, after the domain tag
``b"hypelua-function-v1"``.  Bytecode whose MAC does not verify (tampered, or
copied from another database) is never handed to ``load(..., "b")``: the
function is rebuilt from its source text if there is one, otherwise
:class:`BytecodeRejectedError` is raised.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from collections.abc import Callable
from typing import Any

from .._errors import BytecodeRejectedError
from ._codec import PersistedFunction

_DOMAIN = b"hypelua-function-v1"


def _field(data: bytes | None) -> bytes:
    if data is None:
        return b"\xff\xff\xff\xff"
    return struct.pack(">I", len(data)) + data


def compute_mac(key: bytes, fn: PersistedFunction) -> str:
    """Hex HMAC-SHA256 of ``fn`` under ``key`` (see module docstring)."""
    msg = b"".join((
        _DOMAIN,
        _field(fn.bytecode),
        _field(fn.source.encode("utf-8") if fn.source is not None else None),
        _field(fn.cfunction.encode("utf-8") if fn.cfunction is not None else None),
        _field(fn.name.encode("utf-8")),
    ))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def _walk(value: Any, visit: Callable[[PersistedFunction], None]) -> None:
    t = type(value)
    if t is PersistedFunction:
        visit(value)
        for up in value.upvalues:
            if "value" in up:
                _walk(up["value"], visit)
    elif t is list or t is tuple:
        for v in value:
            _walk(v, visit)
    elif t is dict:
        for k, v in value.items():
            _walk(k, visit)
            _walk(v, visit)


def signer(key: bytes, *, trust_bytecode: bool = True) -> Callable[[PersistedFunction], None]:
    """A callback setting ``mac`` on one function (for ``encode_record(on_function=...)``).

    With ``trust_bytecode=False`` functions carrying bytecode are left unsigned
    (they will be refused when loaded unless rebuilt from source).
    """

    def visit(fn: PersistedFunction) -> None:
        if not trust_bytecode and fn.bytecode is not None:
            fn.mac = ""
            return
        fn.mac = compute_mac(key, fn)

    return visit


def sign(key: bytes, value: Any, *, trust_bytecode: bool = True) -> None:
    """Set ``mac`` on every :class:`PersistedFunction` inside ``value`` (in place)."""
    _walk(value, signer(key, trust_bytecode=trust_bytecode))


def verify(key: bytes, value: Any, *, where: str = "") -> list[str]:
    """Check every function inside ``value`` (in place) before it may be loaded.

    A function whose MAC fails loses its bytecode (it will be compiled from its
    source text).  Returns a list of warnings, one per function rebuilt from
    source.

    Raises:
        BytecodeRejectedError: a function failed authentication and has no source.
    """
    warnings: list[str] = []

    def visit(fn: PersistedFunction) -> None:
        if fn.bytecode is None and fn.cfunction is not None:
            if not hmac.compare_digest(fn.mac, compute_mac(key, fn)):
                raise BytecodeRejectedError(
                    f"stored C function reference {where} failed authentication",
                    details={"where": where, "cfunction": fn.cfunction},
                )
            return
        if fn.bytecode is not None and hmac.compare_digest(fn.mac, compute_mac(key, fn)):
            return
        if fn.bytecode is not None:
            # the MAC covers the source too: a tampered record may have a tampered
            # source, but source text goes through the normal text compiler
            # (mode "t") under the runtime's environment, like any user code.
            if fn.source:
                fn.bytecode = None
                warnings.append(
                    f"bytecode of {where or 'a function'} failed authentication; rebuilt from source"
                )
                return
            raise BytecodeRejectedError(
                f"bytecode of {where or 'a stored function'} failed authentication "
                "(tampered, or made by another database) and was not loaded",
                details={"where": where},
            )
        if not fn.source:
            raise BytecodeRejectedError(
                f"stored function {where} has neither bytecode nor source",
                details={"where": where},
            )

    _walk(value, visit)
    return warnings


_FUNC_HEAD = re.compile(r"\bfunction\b(\s*[A-Za-z_][\w]*(?:\s*\.\s*[A-Za-z_]\w*)*(\s*:\s*[A-Za-z_]\w*)?)?\s*\(")


def extract_source(chunk: str, first: int, last: int, compiles: Callable[[str], bool]) -> str | None:
    """Recover the text of a function expression from its chunk's source.

    Args:
        chunk: the full source text of the chunk that defined the function.
        first, last: ``debug.getinfo(f).linedefined`` / ``lastlinedefined`` (1-based).
        compiles: predicate telling whether ``"return " + text`` compiles as Lua.
    Returns:
        ``"function(params) ... end"`` (a named ``function a.b:c(...)`` is turned
        into an expression, adding ``self`` for methods) or None when the text
        cannot be recovered unambiguously.
    """
    lines = chunk.split("\n")
    if first < 1 or last < first or last > len(lines):
        return None
    head = lines[first - 1]
    body = "\n".join(lines[first - 1:last])
    for m in _FUNC_HEAD.finditer(head):
        name, method = m.group(1), m.group(2)
        params_at = m.end()
        prefix = "function(self, " if method else "function("
        start_text = prefix + body[params_at:]
        if method and body[params_at:].lstrip().startswith(")"):
            start_text = "function(self" + body[params_at:]
        del name
        # try every "end" on the last line, shortest first
        offset_last = len(start_text) - len(lines[last - 1]) if first != last else 0
        for e in re.finditer(r"\bend\b", start_text[max(offset_last, 0):]):
            candidate = start_text[: max(offset_last, 0) + e.end()]
            if compiles("return " + candidate):
                return candidate
    return None
