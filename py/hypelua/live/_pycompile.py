"""Python views' templates compiled to Python functions (one per template, cached).

The generic :func:`~hypelua.live._render.render` walks the parts and ``eval``\\ s each
expression; this module turns a :class:`~hypelua.live._template.Template` into Python
source once, so a render is plain function calls: assigns are read as ``S["name"]``, loop
variables are locals, ``a.b`` reads the key ``b`` of a dict (else the attribute), and
the output is the same rendered structure (same fingerprints, statics, comprehensions,
streams, components) as the generic renderer, which the tests check against each other.

Expression semantics (both renderers): names are assigns (``NameError`` otherwise), a few
safe builtins (``len``, ``str``, ``min``...), ``x.y`` is ``x["y"]`` when ``x`` is a dict
holding ``y``, else ``getattr(x, "y")``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from ._render import Context, StreamOps, dynamic
from ._template import Expr, For, If, Template

Renderer = Callable[[Mapping[str, Any], Context, Any, Any], dict[str, Any]]

_SAFE_BUILTINS = {name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
                  for name in ("len", "str", "int", "float", "min", "max", "sum", "abs", "round", "sorted",
                               "enumerate", "range", "bool", "list", "dict", "any", "all", "zip", "repr", "isinstance")}


def get_attr(obj: Any, name: str) -> Any:
    """``obj.name`` in a template: a dict's key first, else the attribute."""
    if type(obj) is dict and name in obj:
        return obj[name]
    try:
        return getattr(obj, name)
    except AttributeError:
        if isinstance(obj, Mapping):
            raise AttributeError(f"no key or attribute {name!r}") from None
        raise


class _Rewrite(ast.NodeTransformer):
    """Names -> ``S["name"]`` (assigns) or locals (loop variables); ``a.b`` -> ``_ga(a, "b")``."""

    def __init__(self, local: Mapping[str, str], bound: set[str]) -> None:
        self.local, self.bound = local, bound

    def visit_Name(self, node: ast.Name) -> Any:
        if not isinstance(node.ctx, ast.Load) or node.id in self.bound:
            return node
        if node.id in self.local:
            return ast.copy_location(ast.Name(self.local[node.id], ast.Load()), node)
        if node.id in _SAFE_BUILTINS:
            return node
        sub = ast.Subscript(ast.Name("S", ast.Load()), ast.Constant(node.id), ast.Load())
        return ast.copy_location(sub, node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if not isinstance(node.ctx, ast.Load):
            return self.generic_visit(node)
        value = self.visit(node.value)
        call = ast.Call(ast.Name("_ga", ast.Load()), [value, ast.Constant(node.attr)], [])
        return ast.copy_location(call, node)


def rewrite(code: str, local: Mapping[str, str] | None = None) -> str:
    """The Python source of template expression ``code`` with names resolved (see module doc)."""
    tree = ast.parse(code.strip(), mode="eval")
    bound: set[str] = set()
    for node in ast.walk(tree):  # names a comprehension or lambda binds stay as they are
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    new = _Rewrite(local or {}, bound).visit(tree)
    ast.fix_missing_locations(new)
    return ast.unparse(new)


class _Gen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.n = 0

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def body_fn(self, t: Template, local: dict[str, str], with_statics: bool) -> str:
        """A function ``(S, ctx, only, prev, *locals) -> render dict`` for template ``t``."""
        name = self.fresh("_t")
        params = ", ".join(["S", "ctx", "only", "prev", *local.values()])
        part_fns = [self.part_fn(p, local) for p in t.parts]
        args = ", ".join(["S", "ctx", *local.values()])
        lines = [f"def {name}({params}):"]
        if with_statics:
            lines.append(f"    out = {{'f': {t.fingerprint}, 's': {self.const(t.statics)}}}")
        else:
            lines.append("    out = {}")
        top = with_statics and not local
        for i, (fn, part) in enumerate(zip(part_fns, t.parts, strict=True)):
            if top:
                names = self.const(part.names)
                lines.append(f"    if only is None or prev is None or not {names}.isdisjoint(only):")
                lines.append(f"        out['{i}'] = {fn}({args})")
                lines.append("    else:")
                lines.append(f"        out['{i}'] = prev['{i}']")
            else:
                lines.append(f"    out['{i}'] = {fn}({args})")
        lines.append("    return out")
        self.lines.extend(lines)
        return name

    def part_fn(self, part: Expr | If | For, local: dict[str, str]) -> str:
        name = self.fresh("_p")
        params = ", ".join(["S", "ctx", *local.values()])
        args = ", ".join(["S", "ctx", "None", "None", *local.values()])
        lines = [f"def {name}({params}):"]
        if isinstance(part, Expr):
            lines.append(f"    return _dynamic({rewrite(part.code, local)}, {part.raw}, _EVAL, ctx)")
        elif isinstance(part, If):
            for cond, body in part.branches:
                fn = self.body_fn(body, local, True)
                lines.append(f"    if {rewrite(cond, local)}:")
                lines.append(f"        return {fn}({args})")
            if part.default is not None:
                fn = self.body_fn(part.default, local, True)
                lines.append(f"    return {fn}({args})")
            else:
                lines.append("    return ''")
        else:
            inner = {**local, part.var: f"v_{part.var}_{self.n}"}
            var = inner[part.var]
            fn = self.body_fn(part.body, inner, False)
            inner_args = ", ".join(["S", "ctx", "None", "None", *inner.values()])
            key = rewrite(part.key, inner) if part.key else "n"
            lines += [f"    items = {rewrite(part.iterable, local)} or ()",
                      "    entries = {}",
                      "    keys = []",
                      f"    for n, {var} in enumerate(items):",
                      f"        entries[str(n)] = {fn}({inner_args})",
                      f"        keys.append({key})",
                      "    entries['kc'] = len(keys)",
                      f"    out = {{'f': {part.body.fingerprint}, 's': {self.const(part.body.statics)}, "
                      "'k': entries, 'keys': keys}",
                      "    if type(items) is _StreamOps:"]
            if part.key is None:
                lines.append(f"        raise TypeError('a stream needs a key: {{% for {part.var} in ... key ... %}}')")
            lines += ["        out['st'] = {'keys': keys, 'at': [at for _, at in items.inserts], "
                      "'del': list(items.deletes), 'reset': items.reset}",
                      "    return out"]
        self.lines.extend(lines)
        return name


_CACHE: dict[int, Renderer] = {}


def compile_python(t: Template) -> Renderer:
    """``render(scope, ctx, only, previous)`` for ``t`` (cached by fingerprint).

    Args of the returned function: ``scope`` (assigns and helpers, plain values), ``ctx``
    (:class:`Context`), ``only`` (changed names, or None), ``previous`` (last render, or
    None): top-level parts reading no changed name are reused from ``previous``.

    Raises:
        TemplateError: an expression that is not valid Python (with its text).
    """
    fn = _CACHE.get(t.fingerprint)
    if fn is not None and getattr(fn, "template", None) is t:
        return fn
    from .._errors import TemplateError

    gen = _Gen()
    try:
        top = gen.body_fn(t, {}, True)
    except SyntaxError as exc:
        raise TemplateError(f"a template expression is not valid Python: {exc.text or exc.msg}",
                            details={"expression": exc.text}) from None
    env: dict[str, Any] = {"__builtins__": _SAFE_BUILTINS, "_ga": get_attr, "_dynamic": dynamic, "_EVAL": _EVAL,
                           "_StreamOps": StreamOps, **gen.consts,
                           # the generated code's own calls (template expressions cannot name these:
                           # their names are rewritten to assigns)
                           "type": type, "str": str, "enumerate": enumerate, "len": len, "list": list}
    exec(compile("\n".join(gen.lines), f"<template {t.fingerprint:x}>", "exec"), env)  # our generated code
    top_fn = env[top]

    def run(scope: Mapping[str, Any], ctx: Context, only: Any = None, previous: Any = None) -> dict[str, Any]:
        return top_fn(scope if type(scope) is _Names else _Names(scope), ctx, only, previous)  # type: ignore[no-any-return]

    run.template = t  # type: ignore[attr-defined]
    run.source = "\n".join(gen.lines)  # type: ignore[attr-defined]
    _CACHE[t.fingerprint] = run
    return run


class PythonEvaluator:
    """The generic renderer's evaluator (:func:`~hypelua.live.render`) with the same
    expression semantics as compiled templates: each expression compiled once."""

    def __init__(self) -> None:
        self._code: dict[str, Any] = {}

    def bind(self, scope: Mapping[str, Any], var: str, item: Any) -> dict[str, Any]:
        inner = dict(scope)
        inner[var] = item
        return inner

    def __call__(self, code: str, scope: Mapping[str, Any]) -> Any:
        compiled = self._code.get(code)
        if compiled is None:
            compiled = compile(rewrite(code), "<template>", "eval")
            self._code[code] = compiled
        return eval(compiled, {"__builtins__": _SAFE_BUILTINS, "_ga": get_attr, "S": _Names(scope)})


class _Names(dict):  # type: ignore[type-arg]
    def __missing__(self, name: str) -> Any:
        raise NameError(f"name {name!r} is not an assign")


_EVAL = PythonEvaluator()
