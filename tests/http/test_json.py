"""hype.json (lua/hype/json.lua) against Python's json, on both Lua back-ends."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hypelua

# JSON documents whose Lua form converts back unchanged: no nulls (nil is absence), no empty
# arrays (an empty table is {}), integer-valued floats stay floats
scalars = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=30),
                    st.floats(allow_nan=False, allow_infinity=False))
docs = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=5),
                                                      st.dictionaries(st.text(max_size=10), inner, max_size=5)),
                    max_leaves=30)


@pytest.fixture(scope="module")
def rt(request: pytest.FixtureRequest) -> Any:
    runtime = hypelua.Runtime()
    yield runtime
    runtime.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None)
@given(doc=docs)
def test_decode_matches_python(rt: Any, doc: Any) -> None:
    for text in (json.dumps(doc), json.dumps(doc, ensure_ascii=False, indent=1)):
        (value,) = rt.execute('return require("hype.json").decode(...)', text)
        assert _same(value, doc), text


@settings(max_examples=150, deadline=None)
@given(doc=docs)
def test_encode_is_read_back_by_python(rt: Any, doc: Any) -> None:
    (text,) = rt.execute('return require("hype.json").encode(...)', doc)
    assert _same(json.loads(text), doc), text


@pytest.mark.parametrize("text", ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "NaN", "Infinity", "[1] x",
                                  '"\\x"', '"\\ud800"', '"abc', "tru", "{1: 2}", "-", "[" * 600 + "]" * 600,
                                  b'"\xff"'])
def test_malformed_json_is_refused(rt: Any, text: Any) -> None:
    with pytest.raises(hypelua.LuaError) as info:
        rt.execute('return require("hype.json").decode(...)', text)
    assert "json" in str(info.value)


def test_special_values(rt: Any) -> None:
    enc = 'return require("hype.json").encode(...)'
    assert rt.execute(enc, {"a": 1.0})[0] == '{"a":1.0}'
    assert rt.execute(enc, "é\n\"\\\x01")[0] == '"é\\n\\"\\\\\\u0001"'
    assert rt.execute('return require("hype.json").encode({})')[0] == "{}"
    assert rt.execute('return require("hype.json").encode({[1]="a", [3]="c"})')[0] in ('{"1":"a","3":"c"}',
                                                                                    '{"3":"c","1":"a"}')
    for bad in ("0/0", "math.huge", "function() end", "(function() local t = {}; t.t = t; return t end)()",
                "'\\255'"):
        with pytest.raises(hypelua.LuaError):
            rt.execute(f'return require("hype.json").encode({bad})')
    dec = 'return require("hype.json").decode(...)'
    assert rt.execute(dec, '"\\ud83d\\ude00 \\u00e9"')[0] == "😀 é"
    assert rt.execute(dec, "123456789012345678901234567890")[0] == 1.2345678901234568e29
    assert rt.execute('local v = require("hype.json").decode("[1, 1.0, -0, 2e3]") '
                      'return math.type(v[1]), math.type(v[2]), math.type(v[4])') == ("integer", "float", "float")
