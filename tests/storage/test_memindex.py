"""The in-memory indexed executor gives exactly ``reference_execute``'s results.

Differential tests (hypothesis): random documents, random single/compound/unique
indices, random queries (every operator, conjunctions, order asc/desc on indexed
and unindexed fields, limit/offset, cursors) -> same rows, same order, same
cursor as the brute-force reference; cursor walks concatenate to the unpaginated
result; unique violations change nothing; undo restores the exact state.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypelua._errors import StorageError, UniqueViolation
from hypelua.storage._memindex import TableIndexes, condition_intervals, intersect_intervals
from hypelua.storage._query import (
    OPERATORS,
    Condition,
    Query,
    QueryError,
    decode_cursor,
    encode_cursor,
    get_path,
    key_order,
    rank_of,
    reference_execute,
    sort_pair,
)

MAXC = chr(0x10FFFF)

# ----------------------------------------------------------------------------- strategies

STRINGS = ["", "a", "ab", "abc", "b", "ba", "B", "é", "a" + MAXC, MAXC, MAXC + MAXC, "a\x00", "30", "zz"]
s_str = st.sampled_from(STRINGS)
s_int = st.integers(-3, 3) | st.integers(-3, 3) | st.sampled_from([2**53, -(2**53), 10**20, 30])
s_float = st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.5, 2.0, 1e300, math.inf, -math.inf, math.nan, 0.1])
s_bool = st.booleans()
s_scalar = st.one_of(s_int, s_int, s_str, s_str, s_bool, s_float)
s_query_scalar = st.one_of(s_int, s_int, s_str, s_str, s_bool, s_float.filter(math.isfinite))

FIELDS = ["a", "a", "b", "b", "c", "n.x", "n.y", "m.x"]
s_path = st.sampled_from(FIELDS)


def _leaf() -> st.SearchStrategy[Any]:
    return st.one_of(s_scalar, s_scalar, s_scalar, s_scalar, st.lists(s_scalar, max_size=3),
                     st.just({1: 2}), st.just({"$x": 1, "x": 3}))


s_nested = st.one_of(
    st.fixed_dictionaries({}, optional={"x": _leaf(), "y": _leaf()}),
    st.fixed_dictionaries({}, optional={"x": _leaf(), "y": _leaf()}),
    st.fixed_dictionaries({}, optional={"x": _leaf(), "y": _leaf()}),
    st.just({1: "a", "x": 2}), _leaf())
s_doc = st.one_of(
    st.fixed_dictionaries({}, optional={"a": _leaf(), "b": _leaf(), "c": _leaf(), "n": s_nested, "m": s_nested}),
    st.fixed_dictionaries({"a": _leaf(), "b": _leaf()}, optional={"c": _leaf(), "n": s_nested, "m": s_nested}),
    st.fixed_dictionaries({"a": _leaf(), "b": _leaf()}, optional={"c": _leaf(), "n": s_nested, "m": s_nested}),
    st.sampled_from([5, "scalar doc", [1, 2]]),
)
s_key = st.integers(-5, 60) | st.sampled_from([f"k{i}" for i in range(30)] + ["", "K", "é"])


@st.composite
def s_rows(draw: st.DrawFn, max_size: int = 60) -> list[tuple[Any, Any]]:
    """``(key, doc)`` pairs (keys may repeat: later puts replace), usually a few dozen."""
    n = draw(st.integers(0, max_size))
    return draw(st.lists(st.tuples(s_key, s_doc), min_size=n, max_size=n))


@st.composite
def s_condition(draw: st.DrawFn) -> Condition:
    path = draw(s_path)
    op = draw(st.sampled_from((*OPERATORS, "=", "<", ">=", "in", "between", "prefix")))
    if op == "in":
        value: Any = draw(st.lists(s_query_scalar, min_size=1, max_size=4))
    elif op == "between":
        kind = draw(st.sampled_from(["int", "str", "bool", "float"]))
        s = {"int": s_int, "str": s_str, "bool": s_bool, "float": s_float.filter(math.isfinite) | s_int}[kind]
        lo, hi = draw(s), draw(s)
        if kind == "float" and type(lo) is bool:
            lo = 0.5
        value = [lo, hi]
    elif op == "prefix":
        value = draw(s_str)
    else:
        value = draw(s_query_scalar)
    return Condition.parse({"field": path, "operator": op, "value": value})


@st.composite
def s_query(draw: st.DrawFn) -> Query:
    where = tuple(draw(st.lists(s_condition(), max_size=3)))
    order_by = draw(st.none() | s_path)
    return Query(
        "t",
        where=where,
        order_by=order_by,
        descending=draw(st.booleans()),
        limit=draw(st.none() | st.integers(0, 6)),
        offset=draw(st.integers(0, 3) | st.just(0)),
        after=None,
        order_path=tuple(order_by.split(".")) if order_by else (),
    )


s_index = st.tuples(st.lists(s_path, min_size=1, max_size=3, unique=True), st.booleans())
#: indices on the fields most documents have, so index scans find rows
FIXED_INDEXES = [(["a"], False), (["a", "b"], False), (["b", "a", "c"], False), (["n.x"], False), (["c"], True)]


# ----------------------------------------------------------------------------- helpers


def state(t: TableIndexes) -> tuple[Any, ...]:
    """Everything observable, plus the internal index lists (must equal a rebuild)."""
    rows = [(k, id(d)) for k, d in t.items()]
    idx = [(i["name"], tuple(i["fields"]), i["unique"], i["entries"]) for i in t.indexes()]
    entries = {name: list(ix.entries) for name, ix in t._indexes.items()}
    return rows, idx, repr(entries)


def check_invariants(t: TableIndexes) -> None:
    assert len(t) == len(list(t.keys())) == len(t._docs)
    assert list(t.keys()) == sorted(t._docs, key=key_order)
    for ix in t._indexes.values():
        rebuilt = sorted(
            (*(x for path in ix.paths for x in sort_pair(get_path(d, path))), key_order(k)) for k, d in t._docs.items())
        assert list(ix.entries) == rebuilt
        assert sorted(ix.by_key.values()) == rebuilt
        if ix.unique:
            seen: dict[Any, Any] = {}
            for e in rebuilt:
                if ix.all_ranked(e):
                    assert e[:-1] not in seen, (e, seen)
                    seen[e[:-1]] = e


def build(docs: list[tuple[Any, Any]], indexes: list[tuple[list[str], bool]], index_first: bool) -> TableIndexes:
    t = TableIndexes()

    def make_indexes() -> None:
        for i, (fields, unique) in enumerate(indexes):
            before = state(t)
            try:
                t.create_index(f"ix{i}", tuple(fields), unique)
            except UniqueViolation as exc:
                assert exc.code == "UNIQUE_VIOLATION"
                assert exc.details["index"] == f"ix{i}"
                assert state(t) == before

    if index_first:
        make_indexes()
    for k, d in docs:
        before = state(t)
        try:
            t.put(k, d)
        except UniqueViolation as exc:
            assert set(exc.details) == {"index", "fields", "key", "conflicting_key"}
            assert exc.details["key"] == k and exc.details["conflicting_key"] != k
            assert state(t) == before
    if not index_first:
        make_indexes()
    check_invariants(t)
    return t


def same(got: tuple[list[tuple[Any, Any]], str | None], want: tuple[list[tuple[Any, Any]], str | None]) -> None:
    gp, gc = got
    wp, wc = want
    assert [k for k, _ in gp] == [k for k, _ in wp]
    assert all(a is b for (_, a), (_, b) in zip(gp, wp, strict=True))
    assert gc == wc


def run_both(t: TableIndexes, q: Query) -> tuple[list[tuple[Any, Any]], str | None]:
    want = reference_execute(q, list(t.items()))
    got = t.execute(q)
    same(got, want)
    return got


#: ``MEMINDEX_EXAMPLES=5000 pytest tests/storage/test_memindex.py`` for a longer run
SETTINGS = settings(max_examples=int(os.environ.get("MEMINDEX_EXAMPLES", "300")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- differential tests


@SETTINGS
@given(
    docs=s_rows(60),
    indexes=st.lists(s_index, max_size=4),
    index_first=st.booleans(),
    queries=st.lists(s_query(), min_size=1, max_size=6),
)
def test_execute_matches_reference(docs: list[Any], indexes: list[Any], index_first: bool,
                                   queries: list[Query]) -> None:
    t = build(docs, indexes, index_first)
    for q in queries:
        run_both(t, q)
        plan = t.explain(q)
        assert plan["plan"] in ("index", "full_scan")
        assert (plan["index"] is None) == (plan["plan"] == "full_scan")


@SETTINGS
@given(docs=s_rows(80), queries=st.lists(s_query(), min_size=1, max_size=6))
def test_execute_matches_reference_fixed_indexes(docs: list[Any], queries: list[Query]) -> None:
    t = build(docs, FIXED_INDEXES, False)
    for q in queries:
        run_both(t, q)
        walk(t, q, 3)


def walk(t: TableIndexes, q: Query, page: int) -> None:
    """Follow cursors page by page; the pages concatenate to the unpaginated result."""
    full, _ = run_both(t, dataclasses.replace(q, limit=None, offset=0))
    q = dataclasses.replace(q, limit=page, offset=0)
    seen: list[Any] = []
    cursor = None
    for _ in range(len(t) + 2):
        pq = dataclasses.replace(q, after=decode_cursor(cursor) if cursor else None)
        rows, cursor = run_both(t, pq)
        seen.extend(k for k, _ in rows)
        if cursor is None:
            break
    assert seen == [k for k, _ in full]


@SETTINGS
@given(
    docs=s_rows(60),
    indexes=st.lists(s_index, min_size=1, max_size=4),
    q=s_query(),
    page=st.integers(1, 4),
)
def test_cursor_walk_concatenates_to_unpaginated(docs: list[Any], indexes: list[Any], q: Query, page: int) -> None:
    t = build(docs, indexes, True)
    walk(t, q, page)


@SETTINGS
@given(
    docs=s_rows(30),
    indexes=st.lists(s_index, min_size=1, max_size=4),
    q=s_query(),
    r=st.integers(0, 3),
    v=s_query_scalar,
    k=s_key,
)
def test_arbitrary_cursor_positions(docs: list[Any], indexes: list[Any], q: Query, r: int, v: Any, k: Any) -> None:
    """Cursors that do not come from this query (other rank, other value) still agree."""
    t = build(docs, indexes, False)
    pair = sort_pair(v)
    after = (0, 0, key_order(k)) if r == 0 else (pair[0], pair[1], key_order(k))
    cursor = decode_cursor(encode_cursor(after))
    run_both(t, dataclasses.replace(q, after=cursor))
    # and a cursor sitting exactly on the point an equality fixes
    for c in q.where:
        if c.op == "=" and c.path == q.order_path:
            p = sort_pair(c.value)
            run_both(t, dataclasses.replace(q, after=(p[0], p[1], key_order(k))))


@SETTINGS
@given(
    docs=s_rows(30),
    indexes=st.lists(s_index, max_size=3),
    ops=st.lists(st.tuples(st.booleans(), s_key, s_doc), max_size=30),
    q=s_query(),
)
def test_writes_and_undo(docs: list[Any], indexes: list[Any], ops: list[Any], q: Query) -> None:
    """Random puts/deletes keep the indices exact; undoing them newest-first restores the start state."""
    t = build(docs, indexes, True)
    start = state(t)
    start_result = t.execute(q)
    journal: list[tuple[Any, Any]] = []
    for is_put, k, d in ops:
        if is_put:
            before = state(t)
            try:
                journal.append((k, t.put(k, d)))
            except UniqueViolation:
                assert state(t) == before
        else:
            existed = k in t
            prev = t.pop(k)
            assert (prev is not None) == existed
            if existed:
                journal.append((k, prev))
        run_both(t, q)
    check_invariants(t)
    for k, prev in reversed(journal):
        t.restore(k, prev)
    check_invariants(t)
    assert state(t) == start
    same(t.execute(q), start_result)


def _all_plain(doc: Any) -> bool:
    """What ``put_many(plain=...)`` may be promised: every map inside has plain string keys."""
    if isinstance(doc, dict):
        return all(type(k) is str and not k.startswith("$") and _all_plain(v) for k, v in doc.items())
    if isinstance(doc, list):
        return all(_all_plain(v) for v in doc)
    return True


@SETTINGS
@given(
    docs=s_rows(40),
    indexes=st.lists(st.tuples(st.lists(s_path, min_size=1, max_size=3, unique=True), st.just(False)), max_size=3),
    batch=s_rows(60),
    q=s_query(),
)
def test_put_many_equals_puts_one_by_one(docs: list[Any], indexes: list[Any], batch: list[Any], q: Query) -> None:
    """``put_many`` (bulk B-tree merge, repeated keys in one batch) == ``put`` of each row; undo restores."""
    bulk, one = build(docs, indexes, True), build(docs, indexes, True)
    for t in (bulk, one):  # small sublists, so the merge splits and spans many of them
        for ix in (t._primary, *t._indexes.values()):
            ix.entries._reset(4)
    start = state(bulk)
    previous = bulk.put_many(batch, [_all_plain(d) for _, d in batch])
    assert previous == [one.put(k, d) for k, d in batch]
    check_invariants(bulk)
    assert [(k, d) for k, d in bulk.items()] == [(k, d) for k, d in one.items()]
    for ix in (bulk._primary, *bulk._indexes.values()):
        ix.entries._check()  # sortedcontainers' own invariant check (sublists, maxes, index)
    run_both(bulk, q)
    for (k, _), prev in reversed(list(zip(batch, previous, strict=True))):
        bulk.restore(k, prev)
    assert state(bulk) == start


@SETTINGS
@given(
    docs=s_rows(20),
    indexes=st.lists(st.tuples(st.lists(s_path, min_size=1, max_size=2, unique=True), st.just(False)), max_size=2),
    steps=st.lists(st.one_of(
        st.tuples(st.just("many"), s_rows(12)),
        st.tuples(st.just("put"), s_key, s_doc),
        st.tuples(st.just("pop"), s_key),
        st.tuples(st.just("query"), s_query()),
        st.tuples(st.just("merge"), st.booleans()),  # what the IndexedDB back-end does during a commit
    ), max_size=12),
)
def test_pending_batches_interleaved_with_other_operations(docs: list[Any], indexes: list[Any],
                                                           steps: list[Any]) -> None:
    """Deferred batch entries are merged before any read or single-row write: a table fed by
    put_many/put/pop answers like one fed row by row, at every step, and undoes to its start."""
    bulk, one = build(docs, indexes, True), build(docs, indexes, True)
    start = state(bulk)
    journal: list[tuple[Any, Any]] = []
    for step in steps:
        if step[0] == "many":
            prev = bulk.put_many(step[1], [_all_plain(d) for _, d in step[1]])
            journal.extend(zip([k for k, _ in step[1]], prev, strict=True))
            for k, d in step[1]:
                one.put(k, d)
        elif step[0] == "put":
            journal.append((step[1], bulk.put(step[1], step[2])))
            one.put(step[1], step[2])
        elif step[0] == "pop":
            journal.append((step[1], bulk.pop(step[1])))
            one.pop(step[1])
        elif step[0] == "merge":
            bulk.merge_pending(key_order=step[1])
        else:
            got, want = run_both(bulk, step[1]), one.execute(step[1])
            assert [k for k, _ in got[0]] == [k for k, _ in want[0]] and got[1] == want[1]
    check_invariants(bulk)
    assert repr(state(bulk)[1:]) == repr(state(one)[1:])
    for k, prev in reversed(journal):
        bulk.restore(k, prev)
    check_invariants(bulk)
    assert state(bulk) == start


@SETTINGS
@given(base=st.sets(st.integers(0, 3000), max_size=300), load=st.sampled_from([4, 5, 8, 1000]),
       steps=st.lists(st.tuples(st.booleans(), st.sets(st.integers(0, 3000), max_size=120)), max_size=6))
def test_bulk_add_and_remove_equal_one_by_one(base: set[int], load: int, steps: list[Any]) -> None:
    """``bulk_add``/``bulk_remove`` leave the same list as ``add``/``remove`` of each value,
    with sortedcontainers' invariants (``_check``: sublist sizes, maxes, index)."""
    from sortedcontainers import SortedList

    from hypelua.storage._memindex import bulk_add, bulk_remove

    bulk, one = SortedList(base), SortedList(base)
    bulk._reset(load)
    for add, values in steps:
        if add:
            new = sorted(values - set(one))
            bulk_add(bulk, new[::-1])  # any order
            for v in new:
                one.add(v)
        else:
            gone = sorted(values & set(one))
            bulk_remove(bulk, gone)
            for v in gone:
                one.remove(v)
        assert list(bulk) == list(one)
        bulk._check()
        if one:
            assert bulk[len(one) // 2] == one[len(one) // 2]  # the positional index was rebuilt
    with pytest.raises(ValueError):
        bulk_remove(bulk, [-1])


def test_put_many_plain_skips_the_map_check_only() -> None:
    t = TableIndexes()
    t.create_index("a", ("a",))
    t.create_index("u", ("u",), unique=True)
    with pytest.raises(ValueError):
        t.put_many([(1, {"u": 1})])
    t.drop_index("u")
    t.put_many([(1, {"a": 1, "$x": 0}), (2, {"a": 2}), (3, {"a": True}), (4, {"a": 1.5}), (5, {"a": math.inf})],
               [False, True, True, True, True])
    page, _ = t.execute(Query.parse("t", {"field": "a", "operator": ">=", "value": 0}))
    assert [k for k, _ in page] == [4, 2]  # in "a" order, like Dexie's where()
    with pytest.raises(TypeError):
        t.put_many([(6, None)])
    with pytest.raises(TypeError):
        t.put_many([(1.5, {})])


@SETTINGS
@given(docs=s_rows(30), indexes=st.lists(s_index, min_size=1, max_size=4),
       q=s_query())
def test_explain_uses_index_for_leading_field(docs: list[Any], indexes: list[Any], q: Query) -> None:
    t = build(docs, indexes, True)
    plan = t.explain(q)
    first_fields = {ix["fields"][0]: ix["name"] for ix in t.indexes()}
    driving = [c for c in q.where if c.op not in ("!=", "contains") and c.field in first_fields]
    if driving:  # an index drives the query, unless a key-order scan stopping early is cheaper
        assert plan["plan"] == "index" or (plan["order_from_index"] and q.limit is not None)
    if plan["plan"] == "index":
        assert plan["index"] in {ix["name"] for ix in t.indexes()}
        assert plan["estimated_rows"] <= len(t)
    else:
        assert plan["ranges"] == [] and plan["estimated_rows"] <= len(t)
        assert not driving or plan["order_from_index"]


# ----------------------------------------------------------------------------- intervals


@given(c=s_condition(), v=s_scalar)
def test_condition_intervals_are_exact(c: Condition, v: Any) -> None:
    ivs = condition_intervals(c)
    if ivs is None:
        assert c.op in ("!=", "contains")
        return
    p = sort_pair(v)
    inside = rank_of(v) is not None and any(
        (lo < p or (lo == p and li)) and (p < hi or (p == hi and hi_inc)) for lo, li, hi, hi_inc in ivs)
    assert inside == c.matches({"a": v, "b": v, "c": v, "n": {"x": v, "y": v}, "m": {"x": v}})


@given(c1=s_condition(), c2=s_condition(), v=s_scalar)
def test_interval_intersection_is_conjunction(c1: Condition, c2: Condition, v: Any) -> None:
    a, b = condition_intervals(c1), condition_intervals(c2)
    if a is None or b is None:
        return
    ivs = intersect_intervals(a, b)
    p = sort_pair(v)
    inside = rank_of(v) is not None and any(
        (lo < p or (lo == p and li)) and (p < hi or (p == hi and hi_inc)) for lo, li, hi, hi_inc in ivs)
    doc = {"a": v, "b": v, "c": v, "n": {"x": v, "y": v}, "m": {"x": v}}
    assert inside == (c1.matches(doc) and c2.matches(doc))


# ----------------------------------------------------------------------------- examples


def people(n: int = 200) -> TableIndexes:
    t = TableIndexes()
    for i in range(n):
        t.put(i, {"name": f"user{i:04d}", "age": i % 90, "city": ["Oslo", "Rome", "Lima"][i % 3],
                  "address": {"zip": str(10000 + i)}})
    return t


def q(spec: dict[str, Any]) -> Query:
    return Query.parse("people", spec)


def test_explain_index_vs_full_scan() -> None:
    t = people()
    t.create_index("age", ("age",))
    t.create_index("city_age", ("city", "age"))
    t.create_index("zip", ("address.zip",), unique=True)

    p = t.explain(q({"field": "age", "operator": ">=", "value": 85}))
    assert p["plan"] == "index" and p["index"] == "age" and not p["residual"]
    assert p["estimated_rows"] == sum(1 for i in range(200) if i % 90 >= 85)
    assert p["ranges"] == [{"lower": [85], "lower_inclusive": True,
                            "upper": [{"rank": 2, "bound": "max"}], "upper_inclusive": True}]

    p = t.explain(q({"where": [{"field": "city", "op": "=", "value": "Rome"},
                               {"field": "age", "op": "between", "value": [10, 20]}]}))
    assert p["plan"] == "index" and p["index"] == "city_age"
    assert p["ranges"][0]["lower"] == ["Rome", 10] and p["ranges"][0]["upper"] == ["Rome", 20]

    p = t.explain(q({"field": "address.zip", "operator": "prefix", "value": "1001"}))
    assert p["index"] == "zip" and p["estimated_rows"] == 10

    for spec in ({"field": "name", "operator": "=", "value": "user0001"},
                 {"field": "name", "operator": "!=", "value": "x"},
                 {"field": "name", "operator": "contains", "value": "01"},
                 {"field": "age", "operator": "!=", "value": 3, "orderBy": "name"},
                 {"field": "age", "operator": "contains", "value": 3, "orderBy": "name"},
                 {"orderBy": "name"}):
        p = t.explain(q(spec))
        assert p["plan"] == "full_scan" and p["index"] is None, spec
        run_both(t, q(spec))
    # != never drives an index, but the default order (first condition's field) can come from one
    p = t.explain(q({"field": "age", "operator": "!=", "value": 3, "limit": 10}))
    assert p["plan"] == "index" and p["index"] == "age" and p["order_from_index"] and p["residual"] == ["age !="]

    p = t.explain(q({"orderBy": "age", "order": "desc", "limit": 5}))
    assert p["plan"] == "index" and p["index"] == "age" and p["order_from_index"]
    p = t.explain(q({"where": [{"field": "city", "op": "=", "value": "Oslo"}], "orderBy": "age", "limit": 5}))
    assert p["index"] == "city_age" and p["order_from_index"]
    p = t.explain(q({"limit": 5}))  # key order: a table scan that stops early
    assert p["plan"] == "full_scan" and p["order_from_index"]


def test_ordered_scan_stops_early_and_paginates() -> None:
    t = people(1000)
    t.create_index("age", ("age",))
    query = q({"orderBy": "age", "order": "desc", "limit": 7,
               "where": [{"field": "name", "op": "contains", "value": "1"}]})
    seen = []
    while True:
        rows, cursor = run_both(t, query)
        seen.extend(k for k, _ in rows)
        if cursor is None:
            break
        query = dataclasses.replace(query, after=decode_cursor(cursor))
    full, _ = reference_execute(dataclasses.replace(query, limit=None, after=None), list(t.items()))
    assert seen == [k for k, _ in full]


def test_unique_index() -> None:
    t = TableIndexes()
    t.create_index("email", ("email",), unique=True)
    t.put(1, {"email": "a@x"})
    t.put(2, {"email": "b@x"})
    t.put(3, {})  # unranked values never conflict
    t.put(4, {"email": None})
    t.put(5, {"email": {"nested": 1}})
    t.put(1, {"email": "a@x", "v": 2})  # replacing a row with its own value is fine
    with pytest.raises(UniqueViolation) as ei:
        t.put(6, {"email": "b@x"})
    assert isinstance(ei.value, StorageError)
    assert ei.value.code == "UNIQUE_VIOLATION"
    assert ei.value.details == {"index": "email", "fields": ["email"], "key": 6, "conflicting_key": 2}
    assert t.get(6) is None and len(t) == 5
    t.create_index("n", ("n",), unique=True)
    t.put(7, {"n": 1})
    with pytest.raises(UniqueViolation):
        t.put(8, {"n": 1.0})  # 1 == 1.0 in the total order
    t.put(8, {"n": True})  # booleans are another class
    t.put(9, {"email": "c@x", "n": 2})
    with pytest.raises(UniqueViolation):  # the second index rejects: the first is unchanged too
        t.put(9, {"email": "d@x", "n": 1})
    assert t.get(9) == {"email": "c@x", "n": 2}
    check_invariants(t)
    assert t.execute(q({"field": "email", "op": "=", "value": "d@x"}))[0] == []


def test_unique_index_creation_on_conflicting_data() -> None:
    t = TableIndexes()
    t.put("a", {"x": 1, "y": 1})
    t.put("b", {"x": 1, "y": 2})
    t.put("c", {"y": 2.0})
    with pytest.raises(UniqueViolation) as ei:
        t.create_index("xy", ("y",), unique=True)
    assert {ei.value.details["key"], ei.value.details["conflicting_key"]} == {"b", "c"}
    assert t.indexes() == []
    t.create_index("xy", ("x", "y"), unique=True)  # compound: (1,1), (1,2), (missing, 2) are distinct
    assert t.indexes()[0]["entries"] == 3 and t.indexes()[0]["bytes"] > 0
    t.create_index("xy", ("x", "y"), unique=True)  # same definition: no-op
    with pytest.raises(QueryError) as ei2:
        t.create_index("xy", ("x",))
    assert ei2.value.code == "INDEX_EXISTS"
    with pytest.raises(QueryError):
        t.create_index("bad", ("a..b",))
    assert t.drop_index("xy") and not t.drop_index("xy")


def test_prefix_edge_cases() -> None:
    t = TableIndexes()
    t.create_index("s", ("s",))
    values = ["", "a", "a" + MAXC, "a" + MAXC + "z", "b", MAXC, MAXC + "x", 5, None]
    for i, v in enumerate(values):
        t.put(i, {"s": v})
    for p in ["", "a", "a" + MAXC, MAXC, MAXC + MAXC, "zz"]:
        query = q({"field": "s", "operator": "prefix", "value": p, "order": "desc"})
        assert t.explain(query)["plan"] == "index"
        run_both(t, query)


def test_contradictions_and_limits() -> None:
    t = people()
    t.create_index("age", ("age",))
    query = q({"where": [{"field": "age", "op": ">", "value": 50}, {"field": "age", "op": "<", "value": 10}]})
    assert t.explain(query)["estimated_rows"] == 0
    assert t.execute(query) == ([], None)
    assert t.execute(q({"field": "age", "op": ">", "value": 5, "limit": 0})) == ([], None)
    run_both(t, q({"field": "age", "op": "in", "value": [3, 3.0, "3", True, 80], "order": "desc", "limit": 2}))


def test_docs_and_keys_validation() -> None:
    t = TableIndexes()
    with pytest.raises(TypeError):
        t.put(1, None)
    with pytest.raises(TypeError):
        t.put(True, {})  # type: ignore[arg-type]
    assert t.put(1, {"a": 1}) is None
    assert t.put(1, {"a": 2}) == {"a": 1}
    assert t.get(True) is None and t.pop(1.0) is None and 1 in t  # type: ignore[arg-type]
    assert t.delete(1) and not t.delete(1)
    assert t.pop(1) is None


def test_bad_cursor_is_query_error() -> None:
    import base64
    import json
    for bad in ([0, "x", 0, 1], [3, 1, 0, 1], [2, "1", 0, 1], [2, 1, 0, "a"], [2, 1, 1, 5], [2, None, 0, 1]):
        text = base64.urlsafe_b64encode(json.dumps(bad).encode()).decode()
        with pytest.raises(QueryError) as ei:
            Query.parse("t", {"cursor": text})
        assert ei.value.code == "BAD_CURSOR"
