"""The LiveView template compiler and differ: statics/dynamics, fingerprints, minimal diffs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypelua.live import PythonEvaluator, TemplateError, apply, compile_template, diff, render, to_html

EV = PythonEvaluator()

TABLE = compile_template(
    '<table>{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>'
    '<td>{% if row.done %}done{% else %}open{% end %}</td></tr>{% end %}</table>'
    '<p>{{ title }} {{ raw(html) }}</p>{% if count > 2 %}<b>{{ count }}</b>{% elif count %}<i>few</i>{% end %}')


def test_statics_and_dynamics() -> None:
    t = compile_template("<h1>Count: {{ count }}</h1><button hype-on:click=\"inc\">+</button>")
    assert t.statics == ["<h1>Count: ", '</h1><button hype-on:click="inc">+</button>']
    assert len(t.parts) == 1 and t.parts[0].names == {"count"}
    r = render(t, {"count": 3}, EV)
    assert r["0"] == "3" and to_html(r) == '<h1>Count: 3</h1><button hype-on:click="inc">+</button>'
    assert compile_template("<h1>Count: {{ count }}</h1><button hype-on:click=\"inc\">+</button>").fingerprint \
        == t.fingerprint
    assert compile_template("<h2>{{ count }}</h2>").fingerprint != t.fingerprint


def test_escaping_and_raw() -> None:
    r = render(compile_template("{{ v }}|{{ raw(v) }}"), {"v": "<b>&"}, EV)
    assert to_html(r) == "&lt;b&gt;&amp;|<b>&"


def test_one_cell_change_sends_only_that_cell() -> None:
    rows = [{"id": i, "name": f"row {i}", "done": False} for i in range(200)]
    scope = {"rows": rows, "title": "t", "html": "<br>", "count": 0}
    sent: set[int] = set()
    first = render(TABLE, scope, EV)
    join = diff(None, first, sent)
    client: dict[int, list[str]] = {}
    state = apply(None, join, client)
    assert to_html(state) == to_html(first)
    rows2 = [dict(r) for r in rows]
    rows2[100]["name"] = "changed"
    second = render(TABLE, {**scope, "rows": rows2}, EV)
    d = diff(first, second, sent)
    assert d == {"0": {"k": {"100": {"1": "changed"}}}}
    assert len(json.dumps(d, separators=(",", ":"))) < 60
    assert to_html(apply(state, d, client)) == to_html(second)


def test_moved_entries_are_indices() -> None:
    rows = [{"id": i, "name": str(i), "done": False} for i in range(3)]
    scope = {"rows": rows, "title": "", "html": "", "count": 0}
    a = render(TABLE, scope, EV)
    b = render(TABLE, {**scope, "rows": [rows[2], rows[0], {**rows[1], "done": True}]}, EV)
    d = diff(a, b, set())
    assert d["0"]["k"]["0"] == 2 and d["0"]["k"]["1"] == 0 and d["0"]["k"]["2"][0] == 1


def test_statics_sent_once_per_fingerprint() -> None:
    t = compile_template("{% if on %}<b>{{ x }}</b>{% else %}<i>{{ x }}</i>{% end %}")
    sent: set[int] = set()
    r1 = render(t, {"on": True, "x": 1}, EV)
    d1 = diff(None, r1, sent)
    r2 = render(t, {"on": False, "x": 1}, EV)
    d2 = diff(r1, r2, sent)
    r3 = render(t, {"on": True, "x": 2}, EV)
    d3 = diff(r2, r3, sent)
    assert "s" in d1["0"] and "s" in d2["0"] and "s" not in d3["0"]  # the <b> branch's statics: once
    client: dict[int, list[str]] = {}
    state = apply(apply(apply(None, d1, client), d2, client), d3, client)
    assert to_html(state) == "<b>2</b>"


@pytest.mark.parametrize("src", ["{{ x", "{% if x %}a", "{% end %}", "{% for x %}{% end %}", "{% wat %}",
                                 "{{ }}", "{% if x %}{% else %}", "{% else %}"])
def test_syntax_errors_are_typed(src: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(src)
    assert info.value.code == "TEMPLATE_SYNTAX"


rows_st = st.lists(st.fixed_dictionaries({"id": st.integers(0, 30), "name": st.text(max_size=5),
                                          "done": st.booleans()}), max_size=12,
                   unique_by=lambda r: r["id"])
scopes = st.fixed_dictionaries({"rows": rows_st, "title": st.text(max_size=8),
                                "html": st.sampled_from(["", "<b>x</b>"]), "count": st.integers(0, 5)})


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(scopes, min_size=1, max_size=6))
def test_applying_every_diff_equals_a_fresh_render(steps: list[dict[str, Any]]) -> None:
    sent: set[int] = set()
    client: dict[int, list[str]] = {}
    prev = None
    state = None
    for scope in steps:
        new = render(TABLE, scope, EV)
        d = diff(prev, new, sent)
        json.dumps(d)  # the wire form is JSON
        state = apply(state, d, client)
        assert to_html(state) == to_html(new)
        prev = new


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(scopes, min_size=1, max_size=5))
def test_compiled_python_renders_like_the_generic_renderer(steps: list[dict[str, Any]]) -> None:
    from hypelua.live import compile_python
    from hypelua.live._render import Context

    fn = compile_python(TABLE)
    prev = None
    for scope in steps:
        generic = render(TABLE, scope, EV)
        compiled = fn(scope, Context())
        assert compiled == generic
        # change tracking: nothing changed -> every part reused; all changed -> same as fresh
        assert fn(scope, Context(), set(), compiled) == compiled
        if prev is not None:
            assert fn(scope, Context(), set(scope), prev) == generic
        prev = compiled


def test_directives_and_expression_semantics() -> None:
    from hypelua.live import compile_python
    from hypelua.live._render import Context

    t = compile_template('<li class="row" hype-class="{ \'active\': sel == row.id, \'odd\': row.id % 2 }" '
                         'hype-if="row.show"><span hype-text="row.items">x</span>'
                         '{{ ", ".join(t.upper() for t in row.tags) }}</li>')
    html = to_html(compile_python(t)({"sel": 3, "row": {"id": 3, "show": True, "items": 5, "tags": ["a", "b"]}},
                                     Context()))
    assert html == '<li class="row active odd"><span>5</span>A, B</li>'  # dict keys win over dict methods
    assert to_html(compile_python(t)({"sel": 3, "row": {"id": 3, "show": False}}, Context())) == ""
    with pytest.raises(NameError):
        compile_python(compile_template("{{ nope }}"))({}, Context())
    with pytest.raises(NameError):  # no way to reach builtins outside the safe list
        compile_python(compile_template("{{ open('/etc/passwd') }}"))({}, Context())
    with pytest.raises(TemplateError):
        compile_python(compile_template("{{ 1 + }}"))
