"""The one query representation, and the total order every executor shares.

A :class:`Query` is executed two ways with identical results: translated to
parameterised SQL by the SQLite back-end (:mod:`hypelua.storage._sql`), or
evaluated over B-tree-ordered indices in memory (:mod:`hypelua.storage._memindex`)
by the memory and IndexedDB back-ends.

Total order of values (documented contract)
-------------------------------------------
A field's value is compared as the pair ``(rank, value)``:

====  ===========================  =========================================
rank  type class                   order inside the class
====  ===========================  =========================================
1     booleans                     ``false < true``
2     numbers (integer and float)  numeric (``1 == 1.0``)
3     strings                      Unicode code point order (UTF-8 byte order)
====  ===========================  =========================================

A missing field, ``nil``/``null``, and tables (lists, maps, bytes) have no rank:
they never match a comparison (``= != < <= > >= in between prefix``), exactly
like SQL ``NULL``; ``contains`` additionally matches list elements.  Comparisons
only match values of the *same* class: ``age >= 25`` never matches the string
``"30"``, and ``!=`` matches every ranked value that is not equal (other
classes included).  Sorting (``order``) puts rows without a rank first in
ascending order (last in descending), then ranks ascending, values ascending;
ties are broken by key (integer keys before string keys).  Descending order is
the exact reverse of ascending order.

Operators: ``= != < <= > >=`` (scalar value), ``in`` (list of scalars),
``between`` (``[low, high]``, inclusive, same class), ``prefix`` (string),
``contains`` (substring of a string field, or an element equal to the value in a
list field).
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .._errors import StorageError

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "between", "prefix", "contains")
RANK_BOOL, RANK_NUMBER, RANK_STRING = 1, 2, 3
MAX_LIMIT = 1_000_000

_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(StorageError):
    """A query or index definition is malformed (unknown operator, bad field path, ...)."""

    default_code = "BAD_QUERY"
    default_suggestion = "See the query operators and field path rules in the storage documentation."


def parse_field(path: Any) -> tuple[str, ...]:
    """Split a dotted field path (``"address.city"``) into segments.

    Segments are identifiers (``[A-Za-z_][A-Za-z0-9_]*``); at most 16 segments.
    Raises:
        QueryError: ``BAD_FIELD_PATH``.
    """
    if not isinstance(path, str) or not path:
        raise QueryError(f"field path must be a non-empty string, not {path!r}", code="BAD_FIELD_PATH",
                         details={"field": str(path)})
    parts = tuple(path.split("."))
    if len(parts) > 16 or not all(_SEGMENT.match(p) for p in parts):
        raise QueryError(
            f"bad field path {path!r}", code="BAD_FIELD_PATH", details={"field": path},
            suggestion="Use dotted identifiers such as 'age' or 'address.city'.",
        )
    return parts


def rank_of(value: Any) -> int | None:
    """The class rank of a field value (see module docstring); None for unranked values."""
    t = type(value)
    if t is bool:
        return RANK_BOOL
    if t is int:
        return RANK_NUMBER
    if t is float:
        return RANK_NUMBER if math.isfinite(value) else None  # stored as {"$float": ...}: unranked
    if t is str:
        return RANK_STRING
    return None


def sort_pair(value: Any) -> tuple[int, Any]:
    """``(rank, value)`` sort position; unranked values sort as ``(0, 0)``."""
    r = rank_of(value)
    if r is None:
        return (0, 0)
    if r == RANK_BOOL:
        return (r, int(value))
    return (r, value)


def key_order(key: Any) -> tuple[int, Any]:
    """Order of row keys: integers first (ascending), then strings."""
    return (0, key) if type(key) is int else (1, key)


def get_path(doc: Any, path: tuple[str, ...]) -> Any:
    """Value at ``path`` in a plain-data document, or None when absent.

    Only maps stored as JSON objects are traversed: a map with an integer key or
    a key starting with ``$`` is stored as ``{"$map": ...}`` (see ``_codec``) and
    its fields are not addressable, in every executor alike.
    """
    cur = doc
    for p in path:
        if type(cur) is not dict or not all(type(k) is str and not k.startswith("$") for k in cur):
            return None
        cur = cur.get(p)
        if cur is None:
            return None
    return cur


def _scalar(value: Any, op: str) -> Any:
    if rank_of(value) is None:
        raise QueryError(
            f"operator {op!r} needs a boolean, number or string value, not {type(value).__name__}",
            code="BAD_QUERY_VALUE", details={"operator": op},
        )
    return value


@dataclass(frozen=True)
class Condition:
    """One condition ``field op value`` (``value`` checked by :meth:`parse`)."""

    field: str
    op: str
    value: Any
    path: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: Any) -> Condition:
        """From ``{"field", "operator" | "op", "value"}``.  Raises :class:`QueryError`."""
        if not isinstance(spec, dict):
            raise QueryError("a condition must be a map {field, operator, value}", details={"got": repr(spec)[:80]})
        fld = spec.get("field")
        op = spec.get("operator", spec.get("op"))
        value = spec.get("value")
        path = parse_field(fld)
        if op not in OPERATORS:
            raise QueryError(
                f"unknown operator {op!r}", code="BAD_OPERATOR",
                details={"operator": str(op), "known": list(OPERATORS)},
                suggestion="Use one of = != < <= > >= in between prefix contains.",
            )
        if op == "in":
            if not isinstance(value, (list, tuple)) or not value or len(value) > 1000:
                raise QueryError("operator 'in' needs a list of 1..1000 values", code="BAD_QUERY_VALUE")
            value = tuple(_scalar(v, op) for v in value)
        elif op == "between":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise QueryError("operator 'between' needs [low, high]", code="BAD_QUERY_VALUE")
            lo, hi = (_scalar(v, op) for v in value)
            if rank_of(lo) != rank_of(hi):
                raise QueryError("'between' bounds must be of the same type", code="BAD_QUERY_VALUE")
            value = (lo, hi)
        elif op == "prefix":
            if not isinstance(value, str):
                raise QueryError("operator 'prefix' needs a string", code="BAD_QUERY_VALUE")
        else:
            value = _scalar(value, op)
        return cls(str(fld), op, value, path)

    def matches(self, doc: Any) -> bool:
        """Does the plain-data document satisfy this condition?  (Reference semantics.)"""
        v = get_path(doc, self.path)
        op, want = self.op, self.value
        if op == "contains":
            if type(v) is str and type(want) is str:
                return want in v
            if type(v) is list:
                wp = sort_pair(want)
                return any(rank_of(x) is not None and sort_pair(x) == wp for x in v)
            return False
        r = rank_of(v)
        if r is None:
            return False
        pv = sort_pair(v)
        if op == "in":
            return any(sort_pair(w) == pv for w in want)
        if op == "prefix":
            return r == RANK_STRING and v.startswith(want)
        if op == "between":
            lo, hi = sort_pair(want[0]), sort_pair(want[1])
            return lo[0] == r and lo <= pv <= hi
        pw = sort_pair(want)
        if op == "!=":
            return pv != pw
        if pw[0] != r:
            return False
        if op == "=":
            return pv == pw
        if op == "<":
            return pv < pw
        if op == "<=":
            return pv <= pw
        if op == ">":
            return pv > pw
        return pv >= pw


@dataclass(frozen=True)
class Query:
    """A query over one table.

    Attributes:
        table: table name.
        where: conditions, all of which must hold (a conjunction).
        order_by: field path to sort by (None: key order).
        descending: sort direction.
        limit: maximum rows (None: all, capped at ``MAX_LIMIT``).
        offset: rows to skip after the cursor.
        after: decoded cursor (``(rank, value, key)`` of the last row seen) or None.
    """

    table: str
    where: tuple[Condition, ...] = ()
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None
    offset: int = 0
    after: tuple[Any, ...] | None = None
    order_path: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, table: str, spec: Any) -> Query:
        """Build a query from the API's map.

        Accepted shapes (all keys optional)::

            {"field": "age", "operator": ">=", "value": 25,        # one condition, or
             "where": [{"field", "operator", "value"}, ...],       # a conjunction
             "order": "asc" | "desc" | {"field": "age", "direction": "desc"},
             "orderBy": "age", "limit": 100, "offset": 0, "cursor": "<from a previous page>"}

        Rows come sorted by ``orderBy`` (default: the first condition's field, so an
        index on it serves the query like Dexie's ``where()``; with no condition: the
        key), in ``order`` direction (default ascending), ties broken by key.
        Raises:
            QueryError: unknown keys, operators, bad paths, limit/offset out of range, bad cursor.
        """
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise QueryError("a query must be a map", details={"got": type(spec).__name__})
        known = {"field", "operator", "op", "value", "where", "order", "orderBy", "order_by", "limit", "offset",
                 "cursor"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise QueryError(f"unknown query keys {unknown}", code="BAD_QUERY", details={"unknown": unknown})
        conds: list[Condition] = []
        if "field" in spec:
            conds.append(Condition.parse(spec))
        where = spec.get("where") or []
        if not isinstance(where, (list, tuple)):
            raise QueryError("'where' must be a list of conditions")
        conds.extend(Condition.parse(c) for c in where)
        order = spec.get("order")
        order_by = spec.get("orderBy", spec.get("order_by"))
        descending = False
        if isinstance(order, dict):
            order_by = order.get("field", order_by)
            order = order.get("direction", "asc")
        if order is not None:
            if order not in ("asc", "desc"):
                raise QueryError(f"order must be 'asc' or 'desc', not {order!r}", code="BAD_QUERY")
            descending = order == "desc"
        if order_by is None and conds:
            order_by = conds[0].field  # like Dexie's where(): index order of the first condition's field
        order_path: tuple[str, ...] = ()
        if order_by is not None:
            order_path = parse_field(order_by)
        limit = spec.get("limit")
        if limit is not None and (type(limit) is not int or not 0 <= limit <= MAX_LIMIT):
            raise QueryError(f"limit must be an integer in 0..{MAX_LIMIT}", code="BAD_QUERY",
                             details={"limit": repr(limit)})
        offset = spec.get("offset", 0) or 0
        if type(offset) is not int or offset < 0:
            raise QueryError("offset must be a non-negative integer", code="BAD_QUERY",
                             details={"offset": repr(offset)})
        after = decode_cursor(spec["cursor"]) if spec.get("cursor") else None
        return cls(table, tuple(conds), order_by, descending, limit, offset, after, order_path)

    def matches(self, doc: Any) -> bool:
        return all(c.matches(doc) for c in self.where)

    def sort_position(self, key: Any, doc: Any) -> tuple[Any, ...]:
        """``(rank, value, key-order)`` of a row under this query's order (ascending sense)."""
        if self.order_path:
            r, v = sort_pair(get_path(doc, self.order_path))
            return (r, v, key_order(key))
        return (0, 0, key_order(key))


def encode_cursor(position: tuple[Any, ...]) -> str:
    """Opaque cursor string for a sort position (URL-safe base64 of JSON)."""
    r, v, (kt, k) = position
    return base64.urlsafe_b64encode(json.dumps([r, v, kt, k]).encode()).decode().rstrip("=")


def decode_cursor(text: Any) -> tuple[Any, ...]:
    """Inverse of :func:`encode_cursor`.  Raises :class:`QueryError` ``BAD_CURSOR``."""
    try:
        raw = base64.urlsafe_b64decode(str(text) + "=" * (-len(str(text)) % 4))
        r, v, kt, k = json.loads(raw)
        if r not in (0, 1, 2, 3) or kt not in (0, 1):
            raise ValueError("bad cursor fields")
        # the value and key must have the types their rank / key type imply, or comparing
        # the cursor with row positions would raise TypeError instead of BAD_CURSOR
        if type(r) is not int or type(kt) is not int or type(k) is not (int if kt == 0 else str):
            raise ValueError("bad cursor key")
        if r == 0:
            ok = type(v) is int and v == 0
        elif r == 1:
            ok = type(v) is int and v in (0, 1)
        elif r == 2:
            ok = type(v) in (int, float) and math.isfinite(v)
        else:
            ok = type(v) is str
        if not ok:
            raise ValueError("bad cursor value")
        return (r, v, (kt, k))
    except Exception as exc:
        raise QueryError("malformed pagination cursor", code="BAD_CURSOR",
                         suggestion="Pass the 'cursor' value returned with the previous page unchanged.") from exc


def reference_execute(query: Query, rows: list[tuple[Any, Any]]) -> tuple[list[tuple[Any, Any]], str | None]:
    """Execute ``query`` over ``(key, doc)`` pairs by brute force: the semantic reference.

    Returns ``(page, next_cursor)``; used by the memory executor's full-scan path
    and by tests to check the indexed and SQL executors.
    """
    hits = [(query.sort_position(k, d), k, d) for k, d in rows if query.matches(d)]
    hits.sort(key=lambda h: h[0], reverse=query.descending)
    if query.after is not None:
        if query.descending:
            hits = [h for h in hits if h[0] < query.after]
        else:
            hits = [h for h in hits if h[0] > query.after]
    return take_page(query, hits)


def take_page(query: Query, hits: list[tuple[tuple[Any, ...], Any, Any]]
              ) -> tuple[list[tuple[Any, Any]], str | None]:
    """Apply ``offset``/``limit`` to sorted ``(position, key, doc)`` hits past the cursor.

    Returns ``(page, next_cursor)``; the cursor is set only when rows remain after the page.
    """
    start = query.offset
    end = None if query.limit is None else start + query.limit
    page = hits[start:end]
    more = end is not None and len(hits) > end
    cursor = encode_cursor(page[-1][0]) if (more and page) else None
    return [(k, d) for _, k, d in page], cursor
