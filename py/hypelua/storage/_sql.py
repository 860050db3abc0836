"""Translate a :class:`~hypelua.storage._query.Query` into parameterised SQLite SQL.

Each external table is a real SQL table ``(key, codec, data)``; a row's document
is ``data`` (JSON text) or, for compressed rows, ``hype_doc(codec, data)`` (a
deterministic SQL function every hypelua connection registers).  A field path
``P`` becomes two SQL expressions mirroring :func:`~hypelua.storage._query.sort_pair`:

* ``R(P)``: the class rank (0 unranked, 1 boolean, 2 number, 3 string);
* ``V(P)``: the comparable value (booleans as 0/1, unranked as 0).

Indices are SQLite *expression indices* on ``(R(P1), V(P1), R(P2), V(P2), ...)``
and queries use the very same expression text, so SQLite's planner matches them.
Sorting is ``ORDER BY R, V, key`` (SQLite orders integer keys before text, the
documented key order), cursors are row-value comparisons on the same tuple.
"""

from __future__ import annotations

import zlib
from typing import Any

from ._query import RANK_BOOL, RANK_STRING, Condition, Query, rank_of

DOC = "(CASE WHEN codec = 0 THEN data ELSE hype_doc(codec, data) END)"

_RANK_CASE = "WHEN 'true' THEN 1 WHEN 'false' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3"


def hype_doc(codec: int, data: Any) -> str | None:
    """The SQL function ``hype_doc(codec, data)``: a row's JSON text (decompressing codec 1)."""
    if codec == 0:
        return data if isinstance(data, str) else bytes(data).decode("utf-8")
    try:
        return zlib.decompress(bytes(data)).decode("utf-8")
    except (zlib.error, UnicodeDecodeError, TypeError):
        return None


def json_path(path: tuple[str, ...]) -> str:
    """``("address", "city")`` -> ``$.address.city`` (segments are identifiers, safe to inline)."""
    return "$." + ".".join(path)


def rank_expr(path: tuple[str, ...]) -> str:
    """``R(P)``: SQL for the rank of the value at ``path`` (0 when unranked)."""
    return f"coalesce(CASE json_type({DOC}, '{json_path(path)}') {_RANK_CASE} END, 0)"


def value_expr(path: tuple[str, ...]) -> str:
    """``V(P)``: SQL for the comparable value at ``path`` (booleans 0/1, unranked 0)."""
    jp = json_path(path)
    extract = f"json_extract({DOC}, '{jp}')"
    return (f"(CASE json_type({DOC}, '{jp}') WHEN 'true' THEN 1 WHEN 'false' THEN 0 "
            f"WHEN 'integer' THEN {extract} WHEN 'real' THEN {extract} WHEN 'text' THEN {extract} ELSE 0 END)")


def index_columns(paths: list[tuple[str, ...]]) -> str:
    """Column list of an expression index over ``paths``."""
    return ", ".join(f"{rank_expr(p)}, {value_expr(p)}" for p in paths)


def _param(value: Any) -> Any:
    return int(value) if rank_of(value) == RANK_BOOL else value


def _successor(prefix: str) -> str | None:
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    return prefix[:-1] + chr(last + 1)


def condition_sql(cond: Condition) -> tuple[str, list[Any]]:
    """SQL predicate and parameters for one condition (see ``_query`` for semantics)."""
    r_sql, v_sql = rank_expr(cond.path), value_expr(cond.path)
    op, want = cond.op, cond.value
    if op == "contains":
        parts, params = [], []
        if isinstance(want, str):
            parts.append(f"({r_sql} = 3 AND instr({v_sql}, ?) > 0)")
            params.append(want)
        jp = json_path(cond.path)
        parts.append(
            f"(json_type({DOC}, '{jp}') = 'array' AND EXISTS (SELECT 1 FROM json_each({DOC}, '{jp}') AS je "
            f"WHERE CASE je.type {_RANK_CASE} END = ? AND je.value = ?))"
        )
        params.extend([rank_of(want), _param(want)])
        return "(" + " OR ".join(parts) + ")", params
    if op == "in":
        groups: dict[int, list[Any]] = {}
        for w in want:
            groups.setdefault(rank_of(w), []).append(_param(w))  # type: ignore[arg-type]
        parts, params = [], []
        for r, vals in sorted(groups.items()):
            parts.append(f"({r_sql} = ? AND {v_sql} IN ({', '.join('?' * len(vals))}))")
            params.extend([r, *vals])
        return "(" + " OR ".join(parts) + ")", params
    if op == "between":
        lo, hi = want
        return f"({r_sql} = ? AND {v_sql} BETWEEN ? AND ?)", [rank_of(lo), _param(lo), _param(hi)]
    if op == "prefix":
        if not want:
            return f"({r_sql} = 3)", []
        succ = _successor(want)
        if succ is None:
            return f"({r_sql} = 3 AND substr({v_sql}, 1, ?) = ?)", [len(want), want]
        return f"({r_sql} = 3 AND {v_sql} >= ? AND {v_sql} < ?)", [want, succ]
    r = rank_of(want)
    if op == "!=":
        return f"({r_sql} != 0 AND NOT ({r_sql} = ? AND {v_sql} = ?))", [r, _param(want)]
    sql_op = "=" if op == "=" else op
    return f"({r_sql} = ? AND {v_sql} {sql_op} ?)", [r, _param(want)]


_FIXING_OPS = frozenset(("=", "<", "<=", ">", ">=", "between", "prefix"))


def fixed_rank(query: Query) -> int | None:
    """The rank every result row has on the order field, when a condition pins it."""
    for cond in query.where:
        if cond.path != query.order_path:
            continue
        if cond.op in _FIXING_OPS:
            return RANK_STRING if cond.op == "prefix" else rank_of(
                cond.value[0] if cond.op == "between" else cond.value)
        if cond.op == "in" and len({rank_of(v) for v in cond.value}) == 1:
            return rank_of(cond.value[0])
    return None


def query_sql(query: Query, table_sql: str, *, fetch_extra: bool = True) -> tuple[str, list[Any]]:
    """``SELECT key, codec, data`` for ``query`` on SQL table ``table_sql``.

    With ``fetch_extra`` the LIMIT is one more than asked, so the caller knows
    whether a next page exists.
    """
    where, params = [], []
    for cond in query.where:
        sql, p = condition_sql(cond)
        where.append(sql)
        params.extend(p)
    desc = " DESC" if query.descending else ""
    cmp = "<" if query.descending else ">"
    if query.order_path:
        r_sql, v_sql = rank_expr(query.order_path), value_expr(query.order_path)
        fixed = fixed_rank(query)
        if fixed is None:
            order = f"{r_sql}{desc}, {v_sql}{desc}, key{desc}"
        elif any(c.path == query.order_path and c.op == "=" for c in query.where):
            order = f"key{desc}"  # one value: the index's key order is the order
        else:
            # every row has this rank: leaving R out of ORDER BY lets SQLite read the
            # index in order instead of sorting the whole range
            order = f"{v_sql}{desc}, key{desc}"
        if query.after is not None:
            rk, vk, (_, key) = query.after
            if fixed is None:
                where.append(f"({r_sql}, {v_sql}, key) {cmp} (?, ?, ?)")
                params.extend([rk, vk, key])
            elif rk == fixed:
                where.append(f"({v_sql}, key) {cmp} (?, ?)")
                params.extend([vk, key])
            elif (rk > fixed) != query.descending:
                where.append("0")  # the cursor is past every row of this rank
    else:
        order = f"key{desc}"
        if query.after is not None:
            _, _, (_, key) = query.after
            where.append(f"key {cmp} ?")
            params.append(key)
    sql = f'SELECT key, codec, data FROM "{table_sql}"'
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if query.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params.extend([query.limit + (1 if fetch_extra else 0), query.offset])
    elif query.offset:
        sql += " LIMIT -1 OFFSET ?"
        params.append(query.offset)
    return sql, params


__all__ = [
    "DOC",
    "RANK_STRING",
    "condition_sql",
    "hype_doc",
    "index_columns",
    "json_path",
    "query_sql",
    "rank_expr",
    "value_expr",
]
