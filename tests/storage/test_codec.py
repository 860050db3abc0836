"""Record encoding: tagged JSON round trips, compression, keys, corrupt records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hypelua import DatabaseError, NotStorableError
from hypelua.storage._codec import (
    CODEC_JSON,
    CODEC_ZLIB_JSON,
    PersistedFunction,
    decode_record,
    encode_record,
    normalize_key,
)

keys = st.one_of(st.text(min_size=1, max_size=20), st.integers(-(2**53), 2**53))
plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
              st.text(max_size=30), st.binary(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=30,
)


@given(plain)
def test_round_trip_plain_data(value: object) -> None:
    assert decode_record(encode_record(value)) == value


@given(plain)
def test_round_trip_compressed(value: object) -> None:
    record = encode_record(value, compress=True)
    assert record[0] == CODEC_ZLIB_JSON
    assert decode_record(record) == value


def test_integer_and_string_keys_stay_distinct() -> None:
    value = {1: "int", "1": "str", "$x": 2, 2.5: "float"}
    assert decode_record(encode_record(value)) == value


def test_plain_object_stays_queryable_json() -> None:
    codec, data = encode_record({"name": "Ann", "age": 31})
    assert codec == CODEC_JSON and data == '{"name":"Ann","age":31}'


def test_non_finite_floats() -> None:
    out = decode_record(encode_record([math.inf, -math.inf, math.nan]))
    assert out[0] == math.inf and out[1] == -math.inf and math.isnan(out[2])


def test_threshold_compresses_large_values_only() -> None:
    assert encode_record("x" * 2000, threshold=1024)[0] == CODEC_ZLIB_JSON
    assert encode_record("x" * 10, threshold=1024)[0] == CODEC_JSON
    assert encode_record("x" * 2000, threshold=None)[0] == CODEC_JSON


def test_function_round_trip() -> None:
    fn = PersistedFunction(bytecode=b"\x1bLua\x54\x00\xff", source="function() end", name="=x",
                           upvalues=[{"name": "_ENV", "env": True}, {"name": "k", "value": {1: b"\x00"}}],
                           mac="ab")
    assert decode_record(encode_record({"f": fn})) == {"f": fn}


def test_cycles_and_handles_are_not_storable() -> None:
    a: list[object] = []
    a.append(a)
    with pytest.raises(NotStorableError):
        encode_record(a)
    with pytest.raises(NotStorableError):
        encode_record(object())
    with pytest.raises(NotStorableError):
        encode_record({True: 1})


@pytest.mark.parametrize("key,expected", [("a", "a"), (3, 3), (3.0, 3), (-(2**53), -(2**53))])
def test_valid_keys(key: object, expected: object) -> None:
    assert normalize_key(key) == expected


@pytest.mark.parametrize("key", ["", 2**53 + 1, 1.5, True, None, b"x", "x" * 1025])
def test_invalid_keys(key: object) -> None:
    with pytest.raises(NotStorableError) as info:
        normalize_key(key)
    assert info.value.code == "NOT_STORABLE"


@pytest.mark.parametrize("record", [(0, "{not json"), (1, b"not zlib"), (7, "1"), (0, '{"$bytes": "!!"}')])
def test_corrupt_records_raise_typed_error(record: tuple[int, str | bytes]) -> None:
    with pytest.raises(DatabaseError) as info:
        decode_record(record)
    assert info.value.code == "DATABASE_CORRUPT"
