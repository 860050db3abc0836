"""How values and keys are stored: tagged JSON records, optional zlib.

Record
    Every stored value is one record ``(codec, data)``:

    * ``codec == 0`` (:data:`CODEC_JSON`): ``data`` is JSON text (``str``);
    * ``codec == 1`` (:data:`CODEC_ZLIB_JSON`): ``data`` is ``zlib.compress`` of the
      UTF-8 JSON text (``bytes``).

    SQLite stores ``codec`` and ``data`` in two columns; IndexedDB stores the
    object ``{table, key, codec, data}`` (data: string or Uint8Array).

Tagged JSON (plain data that JSON alone cannot say)
    * ``None``/``bool``/``int``/``float``/``str``/``list`` -> themselves
      (non-finite floats -> ``{"$float": "inf" | "-inf" | "nan"}``)
    * ``bytes`` -> ``{"$bytes": "<base64>"}``
    * ``dict`` whose keys are all strings not starting with ``"$"`` -> a JSON object;
      any other ``dict`` -> ``{"$map": [[key, value], ...]}`` (integer and string keys
      stay distinct)
    * :class:`PersistedFunction` -> ``{"$function": {...}}`` with fields
      ``bytecode`` (base64 of ``string.dump`` output, absent for C functions),
      ``source`` (Lua source text of the function expression, or null),
      ``name`` (chunk name), ``upvalues`` (list of ``{"name", "value"}``,
      ``{"name", "env": true}`` for ``_ENV`` or ``{"name", "self": true}`` for a
      recursive reference), ``cfunction`` (registry name such as ``"math.sin"``)
      and ``mac`` (hex HMAC-SHA256 over bytecode and source, see
      :mod:`hypelua.storage._functions`).  A test that tampers with bytecode flips a
      byte inside ``bytecode`` after base64-decoding it.

Keys
    Strings (1..1024 bytes of UTF-8, no restriction on characters) or integers
    within +-2**53 (so they survive JavaScript and IndexedDB); integral floats
    are normalised to integers like Lua does.  Anything else raises
    :class:`NotStorableError`.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Callable
from typing import Any

from .._errors import DatabaseError, NotStorableError

CODEC_JSON = 0
CODEC_ZLIB_JSON = 1

#: keys must be safe integers in JavaScript
MAX_SAFE_INT = 2**53
MAX_KEY_BYTES = 1024
MAX_DEPTH = 200

Key = str | int
Record = tuple[int, str | bytes]


class PersistedFunction:
    """A Lua function as stored: bytecode and/or source, upvalues, MAC.

    Attributes:
        bytecode: ``string.dump`` output (bytes) or None for a C function.
        source: Lua source of the function *expression* (``"function(x) ... end"``)
            when known, else None.
        name: chunk name the function was compiled from (for error messages).
        upvalues: list of dicts ``{"name": str, "value": plain data}``,
            ``{"name": str, "env": True}`` or ``{"name": str, "self": True}``.
        cfunction: registry name of a C function (``"math.sin"``), else None.
        mac: hex HMAC-SHA256 computed by :func:`hypelua.storage._functions.compute_mac`.

    (A plain class rather than a dataclass: ``dataclasses`` costs start-up time.)
    """

    __slots__ = ("bytecode", "cfunction", "mac", "name", "source", "upvalues")

    def __init__(self, bytecode: bytes | None = None, source: str | None = None, name: str = "=(persisted)",
                 upvalues: list[dict[str, Any]] | None = None, cfunction: str | None = None, mac: str = "") -> None:
        self.bytecode = bytecode
        self.source = source
        self.name = name
        self.upvalues: list[dict[str, Any]] = upvalues if upvalues is not None else []
        self.cfunction = cfunction
        self.mac = mac

    def _fields(self) -> tuple[Any, ...]:
        return (self.bytecode, self.source, self.name, self.upvalues, self.cfunction, self.mac)

    def __eq__(self, other: object) -> bool:
        if type(other) is not PersistedFunction:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"PersistedFunction(bytecode={self.bytecode!r}, source={self.source!r}, name={self.name!r}, "
                f"upvalues={self.upvalues!r}, cfunction={self.cfunction!r}, mac={self.mac!r})")

    @property
    def size(self) -> int:
        """Bytes of bytecode plus source (what the playground shows)."""
        return len(self.bytecode or b"") + len((self.source or "").encode("utf-8"))


def normalize_key(key: Any) -> Key:
    """Validate a table key; returns it normalised (integral float -> int).

    Raises:
        NotStorableError: key is not a string or a safe integer.
    """
    t = type(key)
    if t is str:
        if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise NotStorableError(
                f"string keys must be 1..{MAX_KEY_BYTES} bytes long",
                details={"key": key[:80]},
                suggestion="Use a shorter key.",
            )
        return key
    if t is float and key.is_integer():
        key = int(key)
        t = int
    if t is int:
        if -MAX_SAFE_INT <= key <= MAX_SAFE_INT:
            return key
        raise NotStorableError(
            f"integer key {key} is outside +-2^53",
            details={"key": str(key)},
            suggestion="Use integer keys that JavaScript can represent exactly, or string keys.",
        )
    raise NotStorableError(
        f"keys must be strings or integers, not {_type_name(key)}",
        details={"key_type": _type_name(key)},
        suggestion="Use a string or an integer as the key.",
    )


def _type_name(value: Any) -> str:
    kind = getattr(value, "kind", None)
    if isinstance(kind, str):
        return kind
    return type(value).__name__


_JSON_SCALARS = frozenset((type(None), bool, int, str))

OnFunction = Callable[[PersistedFunction], None] | None


def tag_scalar(value: float | bytes | bytearray | memoryview) -> Any:
    """A float or byte string in tagged JSON: finite floats stay, others become
    ``{"$float": "inf" | "-inf" | "nan"}``; bytes become ``{"$bytes": base64}``."""
    if type(value) is float:
        if math.isfinite(value):
            return value
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}


def to_tagged(value: Any, depth: int = 0, path: set[int] | None = None, on_function: OnFunction = None) -> Any:
    """Plain data -> JSON-serialisable tagged form (see module docstring).

    Args:
        on_function: called with every :class:`PersistedFunction` met, before it
            is encoded (the database signs functions this way, in the same walk).
    Raises:
        NotStorableError: unsupported type (Lua handles, userdata, coroutines),
            cycles, nesting deeper than :data:`MAX_DEPTH`, or bad map keys.
    """
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float or t is bytes or t is bytearray or t is memoryview:
        return tag_scalar(value)
    if t is PersistedFunction:
        if on_function is not None:
            on_function(value)
        return {"$function": _function_to_tagged(value, depth, path, on_function)}
    if t is list or t is tuple or t is dict:
        if depth >= MAX_DEPTH:
            raise NotStorableError(f"value nested deeper than {MAX_DEPTH} levels")
        path = path if path is not None else set()
        if id(value) in path:
            raise NotStorableError(
                "a table that contains itself (a cycle) cannot be stored",
                suggestion="Break the cycle before storing the table.",
            )
        path.add(id(value))
        try:
            scalars = _JSON_SCALARS
            if t is dict:
                for k in value:
                    if type(k) is not str or k[:1] == "$":
                        break
                else:  # a JSON object: keys are plain strings
                    return {k: v if type(v) in scalars else to_tagged(v, depth + 1, path, on_function)
                            for k, v in value.items()}
                pairs = []
                for k, v in value.items():
                    if type(k) is bool or (type(k) is float and k != k) or type(k) not in (str, int, float):
                        raise NotStorableError(
                            f"table keys must be strings or numbers, not {_type_name(k)}",
                            details={"key_type": _type_name(k)},
                        )
                    pairs.append([to_tagged(k, depth + 1, path), to_tagged(v, depth + 1, path, on_function)])
                return {"$map": pairs}
            return [v if type(v) in scalars else to_tagged(v, depth + 1, path, on_function) for v in value]
        finally:
            path.discard(id(value))
    raise NotStorableError(
        f"a {_type_name(value)} value cannot be stored",
        details={"type": _type_name(value)},
    )


def _function_to_tagged(fn: PersistedFunction, depth: int, path: set[int] | None,
                        on_function: OnFunction = None) -> dict[str, Any]:
    ups = []
    for up in fn.upvalues:
        item: dict[str, Any] = {"name": up["name"]}
        if up.get("env"):
            item["env"] = True
        elif up.get("self"):
            item["self"] = True
        else:
            item["value"] = to_tagged(up.get("value"), depth + 1, path, on_function)
        ups.append(item)
    out: dict[str, Any] = {"name": fn.name, "upvalues": ups, "mac": fn.mac}
    if fn.bytecode is not None:
        out["bytecode"] = base64.b64encode(fn.bytecode).decode("ascii")
    if fn.source is not None:
        out["source"] = fn.source
    if fn.cfunction is not None:
        out["cfunction"] = fn.cfunction
    return out


def from_tagged(value: Any) -> Any:
    """Inverse of :func:`to_tagged`.  Raises :class:`DatabaseError` on malformed tags."""
    t = type(value)
    if t is list:
        return [from_tagged(v) for v in value]
    if t is not dict:
        return value
    try:
        return _untag({k: from_tagged(v) for k, v in value.items()})
    except DatabaseError:
        raise
    except Exception as exc:
        raise DatabaseError(f"corrupt stored value: {exc}", code="DATABASE_CORRUPT") from exc


def encode_record(value: Any, *, compress: bool = False, threshold: int | None = 1024,
                  on_function: OnFunction = None) -> Record:
    """Plain data -> ``(codec, data)``.

    Args:
        value: plain data (may contain :class:`PersistedFunction`).
        compress: always zlib-compress.
        threshold: compress when the JSON text is larger than this many bytes
            (None disables automatic compression).
        on_function: see :func:`to_tagged`.
    """
    text = _dumps(to_tagged(value, 0, None, on_function))
    if compress or (threshold is not None and len(text) > threshold):
        raw = text.encode("utf-8")
        packed = zlib.compress(raw, 6)
        if compress or len(packed) < len(raw):
            return (CODEC_ZLIB_JSON, packed)
    return (CODEC_JSON, text)


def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _make_dumps() -> Callable[[Any], str]:
    """Compact JSON encoding with the C encoder built once (``JSONEncoder.encode``
    builds it on every call, which doubles the cost of encoding small records)."""
    from json import encoder as _enc

    if _enc.c_make_encoder is None or _enc.c_encode_basestring is None:  # pragma: no cover - pure-Python json
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    c_encode = _enc.c_make_encoder(None, _not_json, _enc.c_encode_basestring, None, ":", ",", False, False, False)
    join = "".join

    def dumps(value: Any) -> str:
        if type(value) is str:  # the C encoder only takes containers and scalars through its entry point
            return _enc.c_encode_basestring(value)
        return join(c_encode(value, 0))

    return dumps


_dumps = _make_dumps()


def _untag(d: dict[str, Any]) -> Any:
    """``object_hook`` of the record decoder: turns tag objects back into values.

    The JSON decoder calls it bottom-up, so the insides of a tag are already decoded.
    """
    if len(d) != 1:
        return d
    ((tag, inner),) = d.items()
    if tag[:1] != "$":
        return d
    if tag == "$bytes":
        return base64.b64decode(inner, validate=True)
    if tag == "$map":
        return {k: v for k, v in inner}
    if tag == "$float":
        return float(inner)
    if tag == "$function":
        return _function_from_decoded(inner)
    return d


def _function_from_decoded(d: dict[str, Any]) -> PersistedFunction:
    bc = d.get("bytecode")
    return PersistedFunction(
        bytecode=base64.b64decode(bc, validate=True) if bc is not None else None,
        source=d.get("source"),
        name=str(d.get("name", "=(persisted)")),
        upvalues=[dict(up) for up in d.get("upvalues", [])],
        cfunction=d.get("cfunction"),
        mac=str(d.get("mac", "")),
    )


_loads = json.JSONDecoder(object_hook=_untag).decode


def record_text(record: Record) -> str:
    """The tagged JSON text of a record (decompressed if needed), not parsed.

    Raises :class:`DatabaseError` ``DATABASE_CORRUPT`` for an unknown codec or bad zlib data.
    """
    codec, data = record
    try:
        if codec == CODEC_JSON:
            return data if type(data) is str else bytes(data).decode("utf-8")
        if codec == CODEC_ZLIB_JSON:
            raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
            return zlib.decompress(raw).decode("utf-8")
    except Exception as exc:
        raise DatabaseError(f"corrupt stored record: {exc}", code="DATABASE_CORRUPT",
                            details={"codec": codec}) from exc
    raise DatabaseError(f"unknown record codec {codec!r}", code="DATABASE_CORRUPT")


def decode_record(record: Record) -> Any:
    """``(codec, data)`` -> plain data.  Raises :class:`DatabaseError` if corrupt."""
    codec, data = record
    try:
        if codec == CODEC_JSON:
            text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        elif codec == CODEC_ZLIB_JSON:
            raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
            text = zlib.decompress(raw).decode("utf-8")
        else:
            raise DatabaseError(f"unknown record codec {codec!r}", code="DATABASE_CORRUPT")
        return _loads(text)
    except DatabaseError:
        raise
    except Exception as exc:
        raise DatabaseError(
            f"corrupt stored record: {exc}",
            code="DATABASE_CORRUPT",
            details={"codec": codec},
            suggestion="The row was modified outside hypelua; restore it or delete the key.",
        ) from exc
