"""In-memory indexed executor of :class:`~hypelua.storage._query.Query` (memory and IndexedDB back-ends).

A :class:`TableIndexes` holds the decoded documents of one table and, per index,
a B-tree-like ordered list (:class:`sortedcontainers.SortedList`) of *entries*::

    (r1, v1, r2, v2, ..., rn, vn, key_order(key))

where ``(ri, vi) = sort_pair(get_path(doc, field_i))`` (unranked values are
``(0, 0)``), i.e. exactly the total order documented in :mod:`._query`, so an
index scan yields rows in the order :func:`~._query.reference_execute` sorts them.
Every row has an entry in every index.  A hidden *primary* list keeps the keys
in key order (``items()`` and key-ordered scans).

Planning (:meth:`TableIndexes.explain`): conditions ``= in between < <= > >= prefix``
on one field are intersected into exact, disjoint intervals of ``(rank, value)``
pairs.  For every index, leading fields constrained to points (``=``, ``in``)
form equality prefixes and the next constrained field contributes ranges; the
index with the fewest candidate entries wins.  An index whose order equals the
query's order (its first free field is the ``order_by`` field and the last
index field, or all fields are points and the query is in key order) is scanned
in order (reversed for ``desc``) with the cursor applied as a range bound,
stopping at ``offset + limit + 1`` matches.  ``!=`` and ``contains`` never
drive an index; conditions not represented by the ranges are checked with
:meth:`Condition.matches`.  When no index fits, the query runs as a full scan
(:func:`reference_execute`), or as a key-ordered scan that stops early when the
query is in key order.

Results are identical to :func:`reference_execute`: same rows, same order, same
``next_cursor`` (the differential tests in ``tests/storage/test_memindex.py``).

Documents are stored by reference: callers must not mutate a document after
:meth:`TableIndexes.put` (replace it with another ``put`` instead).
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from operator import is_, itemgetter
from typing import Any

from sortedcontainers import SortedList

from .._errors import UniqueViolation
from ._query import (
    RANK_BOOL,
    RANK_NUMBER,
    RANK_STRING,
    Condition,
    Query,
    QueryError,
    encode_cursor,
    key_order,
    parse_field,
    reference_execute,
    sort_pair,
    take_page,
)

Key = int | str
Pair = tuple[int, Any]
#: ``(low pair, low inclusive, high pair, high inclusive)`` over ``(rank, value)`` pairs
Interval = tuple[Pair, bool, Pair, bool]

#: conditions that can drive an index scan
RANGE_OPERATORS = frozenset(("=", "in", "between", "<", "<=", ">", ">=", "prefix"))
#: most equality prefixes (product of ``in`` lists over compound fields) a plan enumerates
MAX_PREFIXES = 1024
#: most ranges a plan scans
MAX_RANGES = 4096
MAX_INDEX_FIELDS = 16


class _Extreme:
    """A value below (``sign < 0``) or above (``sign > 0``) every other value."""

    __slots__ = ("_sign",)

    def __init__(self, sign: int) -> None:
        self._sign = sign

    def __lt__(self, other: object) -> bool:
        return self is not other and self._sign < 0

    def __le__(self, other: object) -> bool:
        return self is other or self._sign < 0

    def __gt__(self, other: object) -> bool:
        return self is not other and self._sign > 0

    def __ge__(self, other: object) -> bool:
        return self is other or self._sign > 0

    def __repr__(self) -> str:
        return "MIN" if self._sign < 0 else "MAX"


_BOTTOM = _Extreme(-1)
_TOP = _Extreme(1)


# ----------------------------------------------------------------------------- intervals


def _successor(prefix: str) -> str | None:
    """Smallest string greater than every string starting with ``prefix`` (None: no such string)."""
    p = prefix.rstrip(chr(0x10FFFF))
    if not p:
        return None
    return p[:-1] + chr(ord(p[-1]) + 1)


def condition_intervals(cond: Condition) -> list[Interval] | None:
    """Exact set of ``(rank, value)`` pairs matching ``cond``, as sorted disjoint intervals.

    Returns None for operators that cannot drive an index (``!=``, ``contains``).
    A pair ``p`` is in the result iff ``cond.matches`` holds for a value whose
    ``sort_pair`` is ``p``.
    """
    op, want = cond.op, cond.value
    if op not in RANGE_OPERATORS:
        return None
    if op == "=":
        p = sort_pair(want)
        return [(p, True, p, True)]
    if op == "in":
        pts = sorted({sort_pair(w) for w in want})
        out: list[Interval] = []
        for p in pts:
            if not out or out[-1][0] != p:  # 1 and 1.0 are one point
                out.append((p, True, p, True))
        return out
    if op == "between":
        lo, hi = sort_pair(want[0]), sort_pair(want[1])
        return [(lo, True, hi, True)] if lo <= hi else []
    if op == "prefix":
        succ = _successor(want)
        if succ is None:
            return [((RANK_STRING, want), True, (RANK_STRING, _TOP), True)]
        return [((RANK_STRING, want), True, (RANK_STRING, succ), False)]
    p = sort_pair(want)
    r = p[0]
    if op == "<":
        return [((r, _BOTTOM), True, p, False)]
    if op == "<=":
        return [((r, _BOTTOM), True, p, True)]
    if op == ">":
        return [(p, False, (r, _TOP), True)]
    return [(p, True, (r, _TOP), True)]  # ">="


def _intersect(a: Interval, b: Interval) -> Interval | None:
    alo, alo_inc, ahi, ahi_inc = a
    blo, blo_inc, bhi, bhi_inc = b
    if alo > blo or (alo == blo and not alo_inc):
        lo, lo_inc = alo, alo_inc
    else:
        lo, lo_inc = blo, blo_inc
    if ahi < bhi or (ahi == bhi and not ahi_inc):
        hi, hi_inc = ahi, ahi_inc
    else:
        hi, hi_inc = bhi, bhi_inc
    if lo < hi or (lo == hi and lo_inc and hi_inc):
        return (lo, lo_inc, hi, hi_inc)
    return None


def intersect_intervals(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two sorted lists of disjoint intervals (sorted, disjoint)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        iv = _intersect(a[i], b[j])
        if iv is not None:
            out.append(iv)
        ahi, ahi_inc = a[i][2], a[i][3]
        bhi, bhi_inc = b[j][2], b[j][3]
        if ahi < bhi or (ahi == bhi and not ahi_inc):
            i += 1
        elif bhi < ahi or (ahi == bhi and not bhi_inc):
            j += 1
        else:
            i += 1
            j += 1
    return out


def _is_point(iv: Interval) -> bool:
    lo, lo_inc, hi, hi_inc = iv
    return lo_inc and hi_inc and lo == hi and not isinstance(lo[1], _Extreme)


def field_intervals(conditions: Iterable[Condition]) -> dict[tuple[str, ...], tuple[list[Interval], list[Condition]]]:
    """``{path: (intervals, conditions)}``: per field path, the intersection of its index-able conditions."""
    out: dict[tuple[str, ...], tuple[list[Interval], list[Condition]]] = {}
    for c in conditions:
        ivs = condition_intervals(c)
        if ivs is None:
            continue
        if c.path in out:
            prev, conds = out[c.path]
            out[c.path] = (intersect_intervals(prev, ivs), [*conds, c])
        else:
            out[c.path] = (ivs, [c])
    return out


# ----------------------------------------------------------------------------- indices


def _lookup(doc: Any, path: tuple[str, ...], seen: dict[int, bool]) -> Any:
    """:func:`~._query.get_path`, remembering (by ``id``, for one document) which maps are addressable."""
    cur = doc
    for p in path:
        if type(cur) is not dict:
            return None
        ok = seen.get(id(cur))
        if ok is None:
            ok = seen[id(cur)] = all(type(k) is str and not k.startswith("$") for k in cur)
        if not ok:
            return None
        cur = cur.get(p)
        if cur is None:
            return None
    return cur


def bulk_add(sl: SortedList, values: Sequence[Any]) -> None:
    """Add many values to ``sl``; the same list as ``sl.add`` of each, cheaper.

    Many values next to the list's size: ``SortedList.update`` (one C sort).
    Otherwise each value goes into its sublist with C bisects and ``insort``, and
    the sublists are rebalanced once at the end instead of after every value
    (measured: ~30% less than ``SortedList.add`` under Pyodide; what remains is
    the comparisons).  Relies on sortedcontainers' layout (``_lists``,
    ``_maxes``, ``_index``, ``_load``, ``_len``: the internals its own methods
    maintain), checked by the tests with ``SortedList._check``.
    """
    if not values:
        return
    lists, maxes = sl._lists, sl._maxes
    if not maxes or len(values) * 4 >= sl._len:
        sl.update(values)
        return
    last = len(maxes) - 1
    for v in values:
        pos = bisect_right(maxes, v)  # the first sublist whose max is above v
        if pos > last:
            lists[last].append(v)
            maxes[last] = v
        else:
            insort(lists[pos], v)
    sl._len += len(values)
    _rebalance(sl)


def bulk_remove(sl: SortedList, values: Sequence[Any]) -> None:
    """Remove many values, each present, from ``sl``; the same list as ``sl.remove`` of each.

    Raises:
        ValueError: a value is not in the list (values before it were removed:
            callers remove entries they know are there).
    """
    if not values:
        return
    lists, maxes = sl._lists, sl._maxes
    for v in values:
        pos = bisect_left(maxes, v)
        lst = lists[pos] if pos < len(lists) else ()
        idx = bisect_left(lst, v)
        if idx == len(lst) or lst[idx] != v:
            raise ValueError(f"{v!r} not in list")
        del lst[idx]  # type: ignore[union-attr]
        sl._len -= 1
        if idx == len(lst):  # it was the sublist's max
            if lst:
                maxes[pos] = lst[-1]
            else:
                del lists[pos], maxes[pos]
    _rebalance(sl)


def _rebalance(sl: SortedList) -> None:
    """Restore sortedcontainers' sublist sizes after bulk changes: sublists over
    ``2*load`` are split where they are; if one (not the last) fell under
    ``load/2``, the sublists are cut afresh (rare: after many removals).  Drops the
    positional index (rebuilt on demand)."""
    lists, maxes, load = sl._lists, sl._maxes, sl._load
    half, double = load >> 1, load << 1
    for pos in range(len(lists) - 1, -1, -1):
        size = len(lists[pos])
        if size > double:
            lst = lists[pos]
            count = size // load  # chunks of load..2*load values
            chunks = [lst[size * c // count:size * (c + 1) // count] for c in range(count)]
            lists[pos:pos + 1] = chunks
            maxes[pos:pos + 1] = [c[-1] for c in chunks]
    if any(len(lists[i]) < half for i in range(len(lists) - 1)):
        flat = list(chain.from_iterable(lists))
        lists[:] = [flat[i:i + load] for i in range(0, len(flat), load)]
        maxes[:] = [lst[-1] for lst in lists]
    del sl._index[:]


_KEY_TYPES = frozenset((int, str))


def _addressable(doc: dict[Any, Any]) -> bool:
    """Whether a map's fields can be addressed by path (every key a string not starting with "$")."""
    return all(type(k) is str and not k.startswith("$") for k in doc)


def _extractor(paths: tuple[tuple[str, ...], ...]) -> Callable[[Key, Any, bool], tuple[Any, ...]]:
    """A function ``(key, doc, plain) -> entry`` equal to :meth:`_Index.entry`.

    ``plain`` promises that every map inside ``doc`` is addressable, which skips
    the check.  Single-field, single-segment indices (the usual ``"age"``) get a
    specialised function.
    """
    if len(paths) == 1 and len(paths[0]) == 1:
        name = paths[0][0]

        def single(key: Key, doc: Any, plain: bool) -> tuple[Any, ...]:
            if type(doc) is not dict or not (plain or _addressable(doc)):
                return (0, 0, (0, key) if type(key) is int else (1, key))
            v = doc.get(name)
            t = type(v)
            if t is int or (t is float and v - v == 0):  # finite float: number rank
                r = RANK_NUMBER
            elif t is str:
                r = RANK_STRING
            elif t is bool:
                r, v = RANK_BOOL, int(v)
            else:
                r, v = 0, 0
            return (r, v, (0, key) if type(key) is int else (1, key))

        return single

    def general(key: Key, doc: Any, plain: bool) -> tuple[Any, ...]:
        seen: dict[int, bool] = {}
        out: list[Any] = []
        for p in paths:
            out.extend(sort_pair(_lookup(doc, p, seen)))
        out.append(key_order(key))
        return tuple(out)

    return general


@dataclass
class _Index:
    name: str | None  # None: the hidden primary (key order) list
    fields: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]
    unique: bool
    entries: SortedList = field(default_factory=SortedList)
    by_key: dict[Key, tuple[Any, ...]] = field(default_factory=dict)

    def entry(self, key: Key, doc: Any, seen: dict[int, bool] | None = None) -> tuple[Any, ...]:
        """``(r1, v1, ..., rn, vn, key_order(key))``; ``seen`` shares map checks between indices of one put."""
        if seen is None:
            seen = {}
        out: list[Any] = []
        for p in self.paths:
            out.extend(sort_pair(_lookup(doc, p, seen)))
        out.append(key_order(key))
        return tuple(out)

    def all_ranked(self, entry: tuple[Any, ...]) -> bool:
        return all(entry[i] != 0 for i in range(0, len(entry) - 1, 2))

    def conflict(self, key: Key, entry: tuple[Any, ...]) -> Key | None:
        """Key of another row with the same (fully ranked) values, or None."""
        if not self.unique or not self.all_ranked(entry):
            return None
        prefix, own = entry[:-1], entry[-1]
        sl = self.entries
        i = sl.bisect_left(prefix)
        n = len(sl)
        while i < n:
            other = sl[i]
            if other[:-1] != prefix:
                return None
            if other[-1] != own:
                return other[-1][1]
            i += 1
        return None

    def describe(self) -> dict[str, Any]:
        n = len(self.by_key)
        per_entry = 0
        if n:
            sample = list(islice(self.by_key.values(), 256))
            per_entry = sum(sys.getsizeof(e) + sys.getsizeof(e[-1]) for e in sample) // len(sample)
        size = sys.getsizeof(self.by_key) + n * (per_entry + 8) + sys.getsizeof(self.entries)
        return {"name": self.name, "fields": list(self.fields), "unique": self.unique, "entries": n, "bytes": size}


@dataclass
class _Plan:
    kind: str  # "index" | "key_scan" | "full_scan"
    index: _Index | None = None
    bounds: list[tuple[tuple[Any, ...], bool, tuple[Any, ...], bool]] = field(default_factory=list)
    slices: list[tuple[int, int]] = field(default_factory=list)
    order_from_index: bool = False
    residual: tuple[Condition, ...] = ()
    prefix: tuple[Any, ...] = ()  # the single equality prefix of an ordered scan
    key_point: Pair | None = None  # ordered scan in key order: the constant order pair
    estimated: int = 0
    cost: float = 0.0
    consumed: bool = False  # some condition is represented by the ranges


def _lower(sl: SortedList, bound: tuple[Any, ...], inclusive: bool) -> int:
    return sl.bisect_left(bound if inclusive else (*bound, _TOP))


def _upper(sl: SortedList, bound: tuple[Any, ...], inclusive: bool) -> int:
    return sl.bisect_left((*bound, _TOP) if inclusive else bound)


def _pair_value(r: int, v: Any) -> Any:
    if isinstance(v, _Extreme):
        return {"rank": r, "bound": "min" if v is _BOTTOM else "max"}
    if r == 0:
        return None
    return bool(v) if r == RANK_BOOL else v


def _render(bound: tuple[Any, ...]) -> list[Any]:
    return [_pair_value(bound[i], bound[i + 1]) for i in range(0, len(bound) - 1, 2)]


class TableIndexes:
    """Decoded documents of one table + B-tree ordered indices (``sortedcontainers.SortedList``).

    Keys are ``int`` or ``str`` (already normalised by the codec); documents are
    plain data (anything but None).  Writes are not journalled here: :meth:`put`
    and :meth:`pop` return the previous document so a caller can undo a write
    with :meth:`restore` (``restore(key, previous)``), newest first.

    Batches (:meth:`put_many`) defer index maintenance: the documents are stored
    at once and their keys go on a pending list; the indices take the whole list
    in one merge before anything reads or changes them (a query, a single-row
    write, an index change), like PostgreSQL GIN's ``fastupdate`` pending list.
    """

    def __init__(self) -> None:
        self._docs: dict[Key, Any] = {}
        self._primary = _Index(None, (), (), False)
        self._indexes: dict[str, _Index] = {}
        #: keys written by put_many whose index entries are not merged yet -> "plain" flag
        self._pending: dict[Key, bool] = {}
        #: keys put_many created that are not in the key order yet
        self._new_keys: dict[Key, None] = {}
        #: bumped by every change of rows or indices (cached plans hold index positions)
        self._version = 0
        #: id(query) -> (query, version, plan): plans of prepared queries (see Database.prepare)
        self._plans: dict[int, tuple[Query, int, _Plan]] = {}

    def merge_pending(self, key_order: bool = True) -> None:
        """Bring every index up to date with the pending keys, and the key order too
        unless ``key_order`` is false (queries not in key order leave it pending).

        Called before every read of the indices; a back-end may call it earlier,
        e.g. the IndexedDB back-end while a commit is in flight.
        """
        if key_order and self._new_keys:
            self._merge_new_keys()
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        self._version += 1
        docs = self._docs
        for ix in self._indexes.values():
            extract = _extractor(ix.paths)
            by_key = ix.by_key
            new, old = [], []
            for key, plain in pending.items():
                e = extract(key, docs[key], plain)
                prev = by_key.get(key)
                if prev is not None:
                    if prev == e:
                        continue
                    old.append(prev)
                by_key[key] = e
                new.append(e)
            bulk_remove(ix.entries, old)
            bulk_add(ix.entries, new)

    def _merge_new_keys(self) -> None:
        """Add the keys put_many created to the key order (the hidden primary list)."""
        fresh = list(self._new_keys)
        self._new_keys = {}
        self._version += 1
        entries = [((0, k) if type(k) is int else (1, k),) for k in fresh]
        self._primary.by_key.update(zip(fresh, entries, strict=True))
        del fresh
        bulk_add(self._primary.entries, entries)

    # ------------------------------------------------------------------ rows

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, key: object) -> bool:
        return key in self._docs

    def get(self, key: Key) -> Any | None:
        """The document under ``key`` or None."""
        if type(key) is not int and type(key) is not str:
            return None  # True / 1.0 must not find the row 1
        return self._docs.get(key)

    def keys(self) -> Iterator[Key]:
        """Keys in key order (integers ascending, then strings)."""
        self.merge_pending()
        for e in self._primary.entries:
            yield e[-1][1]

    def items(self) -> Iterator[tuple[Key, Any]]:
        """``(key, doc)`` pairs in key order."""
        self.merge_pending()
        docs = self._docs
        for e in self._primary.entries:
            k = e[-1][1]
            yield k, docs[k]

    def put(self, key: Key, doc: Any) -> Any | None:
        """Insert or replace the row ``key``; maintains every index.

        Returns:
            The previous document (None if the key was new): pass it to
            :meth:`restore` to undo.
        Raises:
            UniqueViolation: a unique index already holds the same values under
                another key (details ``{index, fields, key, conflicting_key}``);
                nothing was changed.
            TypeError: ``doc`` is None or ``key`` not an int/str.
        """
        if doc is None:
            raise TypeError("a document cannot be None (delete the key instead)")
        if type(key) is not int and type(key) is not str:
            raise TypeError(f"keys must be int or str, not {type(key).__name__}")
        self.merge_pending()
        self._version += 1
        seen: dict[int, bool] = {}
        new = [(ix, ix.entry(key, doc, seen)) for ix in self._indexes.values()]
        for ix, e in new:
            other = ix.conflict(key, e)
            if other is not None:
                raise UniqueViolation(
                    f"unique index {ix.name!r} on {list(ix.fields)} already holds these values under key {other!r}",
                    details={"index": ix.name, "fields": list(ix.fields), "key": key, "conflicting_key": other},
                )
        old = self._docs.get(key)
        for ix, e in new:
            prev = ix.by_key.get(key)
            if prev is not None:
                if prev == e:
                    continue
                ix.entries.remove(prev)
            ix.entries.add(e)
            ix.by_key[key] = e
        if old is None:
            ko = (key_order(key),)
            self._primary.entries.add(ko)
            self._primary.by_key[key] = ko
        self._docs[key] = doc
        return old

    def put_many(self, items: Sequence[tuple[Key, Any]], plain: Sequence[bool] | None = None) -> list[Any]:
        """Insert or replace many rows, in order: the same result as :meth:`put` of each.

        For tables without a unique index (:attr:`has_unique` false; use
        :meth:`put` row by row otherwise, so a violation stops at its row).  The
        documents are stored now; the index entries of the batch are merged into
        each B-tree at once, before the next read (see the class docstring).

        Args:
            items: ``(key, doc)`` pairs (keys ``int``/``str``, docs not None).
            plain: per item, True promises that every map inside the doc has only
                string keys not starting with ``"$"`` (e.g. its stored JSON text has
                no ``"$``), which skips that check when its entries are computed.
        Returns:
            the previous document of each item (None where the key was new), for
            :meth:`restore`, newest first.
        Raises:
            ValueError: the table has a unique index.  TypeError: a None doc or a
            bad key (nothing was changed).
        """
        if self.has_unique:
            raise ValueError("put_many needs a table without unique indices: use put() row by row")
        keys = [k for k, _ in items]
        if not _KEY_TYPES.issuperset(map(type, keys)):
            bad = next(k for k in keys if type(k) not in _KEY_TYPES)
            raise TypeError(f"keys must be int or str, not {type(bad).__name__}")
        if any(map(is_, [d for _, d in items], repeat(None))):
            raise TypeError("a document cannot be None (delete the key instead)")
        docs = self._docs
        self._version += 1
        if len(set(keys)) == len(keys):
            olds = list(map(docs.get, keys))
            docs.update(items)
        else:  # a key written twice: its second previous document is its first one
            olds = []
            for key, doc in items:
                olds.append(docs.get(key))
                docs[key] = doc
        self._pending.update(zip(keys, plain, strict=True) if plain is not None else dict.fromkeys(keys, False))
        self._new_keys.update((k, None) for k, old in zip(keys, olds, strict=True) if old is None)
        return olds

    @property
    def has_unique(self) -> bool:
        """Whether some index of the table is unique."""
        return any(ix.unique for ix in self._indexes.values())

    def pop(self, key: Key) -> Any | None:
        """Remove the row ``key``; returns its document (None if absent)."""
        if type(key) is not int and type(key) is not str:
            return None
        self.merge_pending()
        old = self._docs.pop(key, None)
        if old is None:
            return None
        self._version += 1
        for ix in (self._primary, *self._indexes.values()):
            ix.entries.remove(ix.by_key.pop(key))
        return old

    def delete(self, key: Key) -> bool:
        """Remove the row ``key``; returns whether it existed."""
        return self.pop(key) is not None

    def restore(self, key: Key, previous: Any | None) -> None:
        """Undo a write: put ``previous`` back under ``key``, or delete ``key`` when None.

        Undoing writes newest first restores a consistent earlier state, so this
        never raises :class:`UniqueViolation` when used that way.
        """
        if previous is None:
            self.pop(key)
        else:
            self.put(key, previous)

    def clear(self) -> None:
        """Remove every row (indices stay defined, empty)."""
        self._docs.clear()
        self._pending.clear()
        self._new_keys.clear()
        self._version += 1
        for ix in (self._primary, *self._indexes.values()):
            ix.entries.clear()
            ix.by_key.clear()

    # ------------------------------------------------------------------ indices

    def create_index(self, name: str, fields: Iterable[str], unique: bool = False) -> None:
        """Create index ``name`` over dotted field paths ``fields`` (compound when several).

        Built from the existing rows.  Creating an index that exists with the same
        definition is a no-op.
        Raises:
            QueryError: bad name or field path (``BAD_FIELD_PATH``), too many fields,
                or ``INDEX_EXISTS`` (same name, other definition).
            UniqueViolation: ``unique`` and existing rows share values; the index is not created.
        """
        if not isinstance(name, str) or not name:
            raise QueryError("an index name must be a non-empty string", code="BAD_INDEX",
                             details={"name": repr(name)})
        if isinstance(fields, str):
            fields = (fields,)
        fields = tuple(fields)
        if not 1 <= len(fields) <= MAX_INDEX_FIELDS:
            raise QueryError(f"an index needs 1..{MAX_INDEX_FIELDS} fields", code="BAD_INDEX",
                             details={"name": name, "fields": [str(f) for f in fields]})
        paths = tuple(parse_field(f) for f in fields)
        unique = bool(unique)
        self.merge_pending()
        existing = self._indexes.get(name)
        if existing is not None:
            if existing.fields == fields and existing.unique == unique:
                return
            raise QueryError(f"index {name!r} already exists with another definition", code="INDEX_EXISTS",
                             details={"name": name, "fields": list(existing.fields), "unique": existing.unique},
                             suggestion="Drop the index first, or use another name.")
        ix = _Index(name, fields, paths, unique)
        by_key = {k: ix.entry(k, d) for k, d in self._docs.items()}
        ordered = sorted(by_key.values())
        if unique:
            prev: tuple[Any, ...] | None = None
            for e in ordered:
                if prev is not None and prev[:-1] == e[:-1] and ix.all_ranked(e):
                    raise UniqueViolation(
                        f"cannot create unique index {name!r}: keys {prev[-1][1]!r} and {e[-1][1]!r} "
                        f"share the values of {list(fields)}",
                        details={"index": name, "fields": list(fields), "key": e[-1][1],
                                 "conflicting_key": prev[-1][1]},
                    )
                prev = e
        ix.entries = SortedList(ordered)
        ix.by_key = by_key
        self._indexes[name] = ix
        self._version += 1

    def drop_index(self, name: str) -> bool:
        """Remove index ``name``; returns whether it existed."""
        self._version += 1
        return self._indexes.pop(name, None) is not None

    def index_definition(self, name: str) -> dict[str, Any] | None:
        """``{"name", "fields", "unique"}`` of an index (to re-create it when undoing a drop), or None."""
        ix = self._indexes.get(name)
        return None if ix is None else {"name": ix.name, "fields": list(ix.fields), "unique": ix.unique}

    def indexes(self) -> list[dict[str, Any]]:
        """``[{"name", "fields": [...], "unique", "entries", "bytes"}]`` sorted by name (bytes approximate)."""
        self.merge_pending()
        return [self._indexes[n].describe() for n in sorted(self._indexes)]

    # ------------------------------------------------------------------ planning

    def _candidate(self, ix: _Index, fivs: dict[tuple[str, ...], tuple[list[Interval], list[Condition]]],
                   order_path: tuple[str, ...] | None) -> tuple[list[tuple[Any, ...]], list[Interval] | None,
                                                               list[Condition], int]:
        """Equality prefixes, range intervals on the next field, consumed conditions, number of point fields."""
        prefixes: list[tuple[Any, ...]] = [()]
        consumed: list[Condition] = []
        range_ivs: list[Interval] | None = None
        m = 0
        n = len(ix.paths)
        for j, path in enumerate(ix.paths):
            got = fivs.get(path)
            if got is None:
                break
            ivs, conds = got
            if ivs and all(_is_point(iv) for iv in ivs) and (
                    len(ivs) == 1 or not (j == n - 1 and path == order_path)):
                if len(prefixes) * len(ivs) > MAX_PREFIXES:
                    break
                prefixes = [p + iv[0] for p in prefixes for iv in ivs]
                consumed.extend(conds)
                m += 1
                continue
            if len(prefixes) * len(ivs) > MAX_RANGES:
                break
            range_ivs = ivs
            consumed.extend(conds)
            break
        return prefixes, range_ivs, consumed, m

    def _plan(self, query: Query) -> _Plan:
        """The cheapest plan; a query object run again on an unchanged table reuses its plan."""
        self.merge_pending(key_order=False)  # a plan that scans in key order merges the key order
        cached = self._plans.get(id(query))
        if cached is not None and cached[0] is query and cached[1] == self._version:
            return cached[2]
        plan = self._make_plan(query)
        if len(self._plans) >= 64:
            self._plans.clear()
        self._plans[id(query)] = (query, self._version, plan)
        return plan

    def _make_plan(self, query: Query) -> _Plan:
        fivs = field_intervals(query.where)
        order_path: tuple[str, ...] | None = query.order_path or None
        key_point: Pair | None = (0, 0)
        if order_path is not None:
            oiv = fivs.get(order_path)
            if oiv is not None and len(oiv[0]) == 1 and _is_point(oiv[0][0]):
                key_point = oiv[0][0][0]  # constant order value: the order is the key order
                order_path = None
            elif order_path is not None:
                key_point = None
        want = None if query.limit is None else query.offset + query.limit + 1
        n_rows = len(self._docs)
        where = query.where
        plans: list[_Plan] = []
        for ix in self._indexes.values():
            prefixes, range_ivs, consumed, m = self._candidate(ix, fivs, order_path)
            n = len(ix.paths)
            single = len(prefixes) == 1
            if order_path is None:
                ordered = single and m == n
            else:
                ordered = single and m == n - 1 and ix.paths[m] == order_path
            if not consumed and not ordered:
                continue
            if range_ivs is None:
                bounds = [(p, True, p, True) for p in prefixes]
            else:
                bounds = [(p + lo, lo_inc, p + hi, hi_inc) for p in prefixes for lo, lo_inc, hi, hi_inc in range_ivs]
            ids = {id(c) for c in consumed}
            residual = tuple(c for c in where if id(c) not in ids)
            plan = _Plan("index", ix, bounds, [], ordered, residual, prefixes[0] if single else (),
                         key_point if order_path is None else None)
            self._slices(plan, query)
            plan.consumed = bool(consumed)
            plans.append(plan)
        if key_point is not None:
            # the table itself is kept in key order: a scan that may stop early
            if self._new_keys:
                self._merge_new_keys()
            plan = _Plan("key_scan", self._primary, [((), True, (), True)], [], True, tuple(where), (), key_point)
            self._slices(plan, query)
            plans.append(plan)
        # selectivity of the conditions, as far as the indices tell (a guess otherwise)
        known = [p.estimated / n_rows for p in plans if p.consumed and n_rows]
        selectivity = min(known) if known else (0.125 if where else 1.0)
        for plan in plans:
            if plan.order_from_index and want is not None:
                sel = 1.0 if not plan.residual else max(selectivity, 1 / max(n_rows, 1))
                plan.cost = min(plan.estimated, want / sel)
            else:
                plan.cost = plan.estimated * (1.0 if plan.order_from_index else 1.2)
            if plan.kind == "key_scan" and plan.residual:
                plan.cost *= 1.5  # every visited row is checked against every condition
        best = min(plans, key=lambda p: (p.cost, p.kind == "key_scan", not p.order_from_index), default=None)
        full = _Plan("full_scan", None, estimated=n_rows, residual=tuple(where), cost=n_rows * 1.5)
        if best is None or full.cost < best.cost:
            best = full
        return best

    def _slices(self, plan: _Plan, query: Query) -> None:
        """Resolve ``plan.bounds`` to index positions, clipped by the cursor when scanning in order."""
        assert plan.index is not None
        sl = plan.index.entries
        lo_clip, hi_clip = 0, len(sl)
        after = query.after
        if plan.order_from_index and after is not None:
            ra, va, ka = after
            if plan.key_point is None:  # ordered by the last index field: (.., r, v, key) entries
                bound = (*plan.prefix, ra, va, ka)
            else:  # key order; every matching row has the order pair key_point
                cp = (ra, va)
                if plan.key_point == cp:
                    bound = (*plan.prefix, ka)
                elif (plan.key_point > cp) != query.descending:
                    bound = None  # every row is past the cursor
                else:
                    lo_clip, hi_clip, bound = 0, 0, None  # no row is past the cursor
            if bound is not None:
                if query.descending:
                    hi_clip = sl.bisect_left(bound)
                else:
                    lo_clip = sl.bisect_right(bound)
        out = []
        total = 0
        for lo_b, lo_inc, hi_b, hi_inc in plan.bounds:
            lo = max(_lower(sl, lo_b, lo_inc), lo_clip)
            hi = min(_upper(sl, hi_b, hi_inc), hi_clip)
            if lo < hi:
                out.append((lo, hi))
                total += hi - lo
        plan.slices = out
        plan.estimated = total

    def explain(self, query: Query) -> dict[str, Any]:
        """How :meth:`execute` would run ``query``.

        Returns:
            ``{"plan": "index" | "full_scan", "index": name | None, "fields": [...],
            "ranges": [{"lower": [...], "lower_inclusive", "upper": [...], "upper_inclusive"}],
            "order_from_index": bool, "residual": ["field op", ...], "estimated_rows": int}``.
            ``ranges`` bounds list one value per index field (booleans as
            true/false; ``{"rank", "bound": "min"|"max"}`` for the ends of a type
            class).  A full scan with ``order_from_index`` true walks the table in
            key order and stops early; ``estimated_rows`` is the number of index
            entries (rows for a full scan) the scan may visit.
        """
        plan = self._plan(query)
        ix = plan.index if plan.kind == "index" else None
        return {
            "plan": "index" if plan.kind == "index" else "full_scan",
            "index": ix.name if ix is not None else None,
            "fields": list(ix.fields) if ix is not None else [],
            "ranges": [
                {"lower": _render(lo), "lower_inclusive": li, "upper": _render(hi), "upper_inclusive": hi_inc}
                for lo, li, hi, hi_inc in plan.bounds
            ] if ix is not None else [],
            "order_from_index": plan.order_from_index,
            "residual": [f"{c.field} {c.op}" for c in plan.residual],
            "estimated_rows": plan.estimated,
        }

    # ------------------------------------------------------------------ execution

    def execute(self, query: Query) -> tuple[list[tuple[Key, Any]], str | None]:
        """Run ``query``: ``(page of (key, doc), next_cursor or None)``, exactly as :func:`reference_execute`."""
        if query.limit == 0:
            return [], None
        plan = self._plan(query)
        if plan.kind == "full_scan":
            return reference_execute(query, list(self._docs.items()))
        assert plan.index is not None
        sl = plan.index.entries
        docs = self._docs
        residual = plan.residual
        if plan.order_from_index and not residual:
            # the index order is the result order: the page is a few list slices of the B-tree
            desc = query.descending
            skip, limit = query.offset, query.limit
            want = None if limit is None else limit + 1  # one more tells whether there is a next page
            taken: list[tuple[Any, ...]] = []
            for lo, hi in (reversed(plan.slices) if desc else plan.slices):
                if skip >= hi - lo:
                    skip -= hi - lo
                    continue
                room = None if want is None else want - len(taken)
                if desc:
                    end = hi - skip
                    taken.extend(reversed(sl[lo if room is None else max(lo, end - room):end]))
                else:
                    start = lo + skip
                    taken.extend(sl[start:hi if room is None else min(hi, start + room)])
                skip = 0
                if want is not None and len(taken) >= want:
                    break
            more = limit is not None and len(taken) > limit
            if more:
                del taken[limit:]
            page = [(k, docs[k]) for k in [e[-1][1] for e in taken]]
            cursor = encode_cursor(query.sort_position(*page[-1])) if (more and page) else None
            return page, cursor
        if plan.order_from_index:
            desc = query.descending
            skip, limit = query.offset, query.limit
            page = []
            more = False
            for lo, hi in (reversed(plan.slices) if desc else plan.slices):
                for e in sl.islice(lo, hi, reverse=desc):
                    k = e[-1][1]
                    d = docs[k]
                    if residual and not all(c.matches(d) for c in residual):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    if limit is not None and len(page) >= limit:
                        more = True
                        break
                    page.append((k, d))
                if more:
                    break
            cursor = encode_cursor(query.sort_position(*page[-1])) if (more and page) else None
            return page, cursor
        hits = []
        pos = query.sort_position
        for lo, hi in plan.slices:
            for e in sl.islice(lo, hi):
                k = e[-1][1]
                d = docs[k]
                if residual and not all(c.matches(d) for c in residual):
                    continue
                hits.append((pos(k, d), k, d))
        return _finish(query, hits)


def _finish(query: Query, hits: list[tuple[tuple[Any, ...], Key, Any]]) -> tuple[list[tuple[Key, Any]], str | None]:
    """Sort matching ``(position, key, doc)`` rows and apply cursor, offset and limit like the reference."""
    first = itemgetter(0)
    hits.sort(key=first)
    if query.after is not None:
        if query.descending:
            hits = hits[:bisect_left(hits, query.after, key=first)]
        else:
            hits = hits[bisect_right(hits, query.after, key=first):]
    if query.descending:
        hits.reverse()
    return take_page(query, hits)


__all__ = [
    "RANGE_OPERATORS",
    "TableIndexes",
    "UniqueViolation",
    "condition_intervals",
    "field_intervals",
    "intersect_intervals",
]
