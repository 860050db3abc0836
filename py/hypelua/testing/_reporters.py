"""Reporters for ``hype test``: ``pretty`` (human), ``tap`` (TAP 13), ``junit`` (JUnit XML).

Each reporter gets ``result(r)`` for every :class:`TestResult` as it arrives
and ``finish(results) -> str`` once at the end (what to print after the
streamed output).  Output goes through ``write(text)``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

from ._runner import TestResult


class Reporter:
    """Base reporter.  Args: write: text sink (default ``sys.stdout.write``)."""

    def __init__(self, write: Callable[[str], Any] | None = None, *, color: bool | None = None) -> None:
        self.write = write or sys.stdout.write
        self.color = sys.stdout.isatty() if color is None else color

    def result(self, r: TestResult) -> None:
        """Called once per test as soon as its outcome is known."""

    def finish(self, results: list[TestResult]) -> None:
        """Called once after every file ran."""


def summary(results: list[TestResult]) -> dict[str, int]:
    """``{"passed", "failed", "pending", "total"}`` counts."""
    out = {"passed": 0, "failed": 0, "pending": 0}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    out["total"] = len(results)
    return out


class PrettyReporter(Reporter):
    """One line per test (grouped by file), failures in detail, a summary line."""

    def __init__(self, write: Callable[[str], Any] | None = None, *, color: bool | None = None) -> None:
        super().__init__(write, color=color)
        self._file: str | None = None

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def result(self, r: TestResult) -> None:
        if r.file != self._file:
            self._file = r.file
            self.write(self._c("1", r.file) + "\n")
        mark = {"passed": self._c("32", "✓"), "failed": self._c("31", "✗"), "pending": self._c("33", "-")}[r.status]
        extra = " (pending)" if r.status == "pending" else f" ({r.duration_ms:.0f} ms)" if r.duration_ms >= 1 else ""
        self.write(f"  {mark} {r.full_name}{extra}\n")

    def finish(self, results: list[TestResult]) -> None:
        failed = [r for r in results if r.status == "failed"]
        if failed:
            self.write("\n" + self._c("31;1", "Failures:") + "\n")
            for i, r in enumerate(failed, 1):
                self.write(f"\n  {i}) {r.file}: {r.full_name}\n")
                for line in (r.message or "").splitlines():
                    self.write(f"     {line}\n")
        s = summary(results)
        parts = [self._c("32", f"{s['passed']} passed")]
        if s["failed"]:
            parts.append(self._c("31", f"{s['failed']} failed"))
        if s["pending"]:
            parts.append(self._c("33", f"{s['pending']} pending"))
        total_ms = sum(r.duration_ms for r in results)
        self.write(f"\n{', '.join(parts)}, {s['total']} total ({total_ms:.0f} ms)\n")


class TapReporter(Reporter):
    """TAP version 13; the plan (``1..N``) comes last; failures carry a YAML block."""

    def __init__(self, write: Callable[[str], Any] | None = None, *, color: bool | None = None) -> None:
        super().__init__(write, color=False)
        self._n = 0
        self.write("TAP version 13\n")

    def result(self, r: TestResult) -> None:
        self._n += 1
        name = f"{r.file}: {r.full_name}".replace("#", "\\#")
        if r.status == "passed":
            self.write(f"ok {self._n} - {name}\n")
        elif r.status == "pending":
            self.write(f"ok {self._n} - {name} # SKIP pending\n")
        else:
            self.write(f"not ok {self._n} - {name}\n")
            self.write("  ---\n  message: |-\n")
            for line in (r.message or "failed").splitlines() or ["failed"]:
                self.write(f"    {line}\n")
            self.write(f"  duration_ms: {r.duration_ms:.3f}\n  ...\n")

    def finish(self, results: list[TestResult]) -> None:
        s = summary(results)
        self.write(f"1..{self._n}\n# pass {s['passed']}\n# fail {s['failed']}\n# skip {s['pending']}\n")


class JUnitReporter(Reporter):
    """JUnit XML: one ``<testsuite>`` per spec file, ``classname`` = file + describes."""

    def finish(self, results: list[TestResult]) -> None:
        self.write(junit_xml(results))


def junit_xml(results: list[TestResult]) -> str:
    """Render results as a JUnit XML document (``<testsuites>``); times in seconds."""
    root = ET.Element("testsuites", name="hype test")
    by_file: dict[str, list[TestResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    for file, rs in by_file.items():
        s = summary(rs)
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(s["total"]), failures=str(s["failed"]),
                              errors="0", skipped=str(s["pending"]),
                              time=f"{sum(r.duration_ms for r in rs) / 1000:.6f}")
        for r in rs:
            classname = ".".join([file, *r.path]) if r.path else file
            case = ET.SubElement(suite, "testcase", classname=classname, name=r.name,
                                 time=f"{r.duration_ms / 1000:.6f}")
            if r.status == "failed":
                msg = r.message or "failed"
                fail = ET.SubElement(case, "failure", message=msg.splitlines()[0] if msg else "failed")
                fail.text = msg
            elif r.status == "pending":
                ET.SubElement(case, "skipped")
    s = summary(results)
    root.set("tests", str(s["total"]))
    root.set("failures", str(s["failed"]))
    root.set("skipped", str(s["pending"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


REPORTERS: dict[str, type[Reporter]] = {"pretty": PrettyReporter, "tap": TapReporter, "junit": JUnitReporter}
