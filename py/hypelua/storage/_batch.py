"""Batch operations: parsing and the partial-update rule.

A batch is a list of operations, each a map::

    {"type": "set",    "table": T, "key": K, "value": V}        -> result True
    {"type": "get",    "table": T, "key": K}                     -> the value (or None)
    {"type": "delete", "table": T, "key": K}                     -> whether it existed
    {"type": "update", "table": T, "key": K, "value": {path: v}} -> the new value

``update`` applies a partial value to an existing map: each entry sets the
field at a dotted path (creating intermediate maps); ``None`` removes the field
(like assigning ``nil``).  A batch is all-or-nothing: the first failing
operation rolls every earlier one back and raises :class:`BatchError`.
"""

from __future__ import annotations

import copy
from typing import Any

from .._errors import HypeError, StorageError
from ._query import parse_field

OP_TYPES = ("set", "get", "delete", "update")


class BatchError(StorageError):
    """One operation of a batch failed; the whole batch was rolled back.

    ``details``: ``{"index": i, "op": {type, table, key}, "cause": {code, message, details}}``.
    """

    default_code = "BATCH_FAILED"
    default_suggestion = "Fix the operation at details.index (see details.cause); nothing of the batch was applied."


class RowNotFound(StorageError):
    """``update`` of a key that does not exist."""

    default_code = "NOT_FOUND"
    default_suggestion = "Use 'set' to create the row first."


class SetRun:
    """Consecutive ``set`` operations on one table, as two columns.

    The JS API sends runs of plain ``set`` operations this way (a smaller request,
    cheaper to parse and to apply); :meth:`Database.batch` takes a run among
    operation maps and counts each of its keys as one operation (index, result,
    progress).

    Raises:
        StorageError: ``BAD_OPERATION`` when ``keys`` and ``values`` are not lists of one length.
    """

    __slots__ = ("keys", "table", "values")

    def __init__(self, table: Any, keys: Any, values: Any) -> None:
        if type(keys) is not list or type(values) is not list or len(keys) != len(values):
            raise StorageError("a run of sets needs 'keys' and 'values' lists of one length", code="BAD_OPERATION")
        self.table = table
        self.keys = keys
        self.values = values

    def __len__(self) -> int:
        return len(self.keys)

    def op(self, i: int) -> dict[str, Any]:
        """Operation ``i`` of the run as an operation map."""
        return {"type": "set", "table": self.table, "key": self.keys[i], "value": self.values[i]}


def check_op(op: Any) -> tuple[str, str, Any, Any]:
    """Validate one operation map; returns ``(type, table, key, value)``.

    Raises:
        StorageError: ``BAD_OPERATION``.
    """
    if not isinstance(op, dict):
        raise StorageError("an operation must be a map {type, table, key, value}", code="BAD_OPERATION")
    kind = op.get("type")
    if kind not in OP_TYPES:
        raise StorageError(
            f"unknown operation type {kind!r}", code="BAD_OPERATION",
            details={"type": str(kind), "known": list(OP_TYPES)},
            suggestion="Use one of set, get, delete, update.",
        )
    if "table" not in op or "key" not in op:
        raise StorageError("an operation needs 'table' and 'key'", code="BAD_OPERATION")
    if kind in ("set", "update") and "value" not in op:
        raise StorageError(f"a '{kind}' operation needs 'value'", code="BAD_OPERATION")
    return kind, op["table"], op["key"], op.get("value")


def apply_update(current: Any, partial: Any) -> Any:
    """The new value of ``update``: ``current`` (a map) with ``partial``'s dotted paths set.

    Raises:
        StorageError: ``BAD_OPERATION`` (partial not a map), ``UPDATE_NOT_A_MAP``.
    """
    if not isinstance(partial, dict) or not partial:
        raise StorageError("an 'update' value must be a non-empty map of field paths", code="BAD_OPERATION")
    if not isinstance(current, dict):
        raise StorageError("only a map value can be updated field by field", code="UPDATE_NOT_A_MAP",
                           suggestion="Use 'set' to replace a value that is not a map.")
    new = copy.deepcopy(current)
    for path_text, value in partial.items():
        path = parse_field(path_text)
        node = new
        for seg in path[:-1]:
            nxt = node.get(seg)
            if not isinstance(nxt, dict):
                nxt = {}
                node[seg] = nxt
            node = nxt
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return new


def describe_op(op: Any) -> dict[str, Any]:
    """A short plain-data description of an operation for error details."""
    if not isinstance(op, dict):
        return {"op": repr(op)[:80]}
    return {k: op.get(k) for k in ("type", "table", "key") if isinstance(op.get(k), (str, int, float))}


def cause_of(exc: HypeError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "details": exc.details}
