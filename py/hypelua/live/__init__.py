"""LiveView (SPEC §3 C, issue 10): server-rendered components with statics/dynamics diffs.

Work in progress: the template compiler (:mod:`._template`) and the renderer/differ
(:mod:`._render`, Phoenix LiveView's rendered format) exist; components, the wire
protocol, the connector and the transports come next.
"""

from __future__ import annotations

from ._lua import LuaView, load_view
from ._render import PythonEvaluator, apply, diff, render, to_html
from ._template import Template, TemplateError, compile_template

__all__ = ["LuaView", "load_view", "PythonEvaluator", "Template", "TemplateError", "apply", "compile_template", "diff", "render", "to_html"]
