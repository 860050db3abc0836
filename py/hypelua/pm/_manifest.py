"""``hype.json``: the package manifest (name, version, main, scripts, dependencies, devDependencies).

The raw JSON object is kept (unknown fields and key order survive a rewrite);
:func:`validate` checks every known field and raises :class:`ManifestError`
naming the field.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ManifestError

MANIFEST = "hype.json"
NAME_RE = re.compile(r"^(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$")
_DEP_FIELDS = ("dependencies", "devDependencies")


@dataclass
class Manifest:
    """A validated ``hype.json``.

    Attributes:
        raw: the JSON object as read (written back by :func:`save_manifest`).
        path: the file it came from (None when built in memory).
    """

    raw: dict[str, Any]
    path: Path | None = None
    name: str | None = None
    version: str | None = None
    main: str | None = None
    scripts: dict[str, str] = field(default_factory=dict)
    dependencies: dict[str, str] = field(default_factory=dict)
    dev_dependencies: dict[str, str] = field(default_factory=dict)

    def require_publishable(self) -> None:
        """Raise :class:`ManifestError` unless ``name`` and ``version`` are set (needed to publish)."""
        for key in ("name", "version"):
            if not getattr(self, key):
                raise ManifestError(f"hype.json has no {key!r}; it is required to publish",
                                    details={"field": key, "path": str(self.path)})


def check_name(name: Any, where: str = "name") -> str:
    """Validate a package name (npm rules: lowercase, ``[a-z0-9._-]``, optional ``@scope/``, ≤ 214 chars).

    Returns the name.  Raises :class:`ManifestError` (``details["field"] = where``).
    """
    if not isinstance(name, str) or len(name) > 214 or not NAME_RE.match(name):
        raise ManifestError(
            f"invalid package name {name!r} in {where}",
            details={"field": where, "value": name},
            suggestion="Use lowercase letters, digits, '.', '_' and '-' (optionally '@scope/name').",
        )
    return name


def validate(data: Any, path: Path | None = None) -> Manifest:
    """Check a parsed ``hype.json`` object.

    Args:
        data: the parsed JSON value.
        path: where it was read from (for messages).
    Returns:
        a :class:`Manifest`.
    Raises:
        ManifestError: not an object, or an invalid field (``details["field"]``).
    """
    where = str(path) if path else MANIFEST
    if not isinstance(data, dict):
        raise ManifestError(f"{where} must contain a JSON object", details={"path": where})
    from ._semver import check_range, check_version

    m = Manifest(raw=data, path=path)

    def bad(fieldname: str, why: str) -> ManifestError:
        return ManifestError(f"{where}: field {fieldname!r} {why}", details={"field": fieldname, "path": where})

    if "name" in data:
        m.name = check_name(data["name"], "name")
    if "version" in data:
        v = data["version"]
        if not isinstance(v, str):
            raise bad("version", "must be a string like '1.0.0'")
        m.version = check_version(v, "version")
    if "main" in data:
        if not isinstance(data["main"], str) or not data["main"] or os.path.isabs(data["main"]):
            raise bad("main", "must be a relative path like 'init.lua'")
        m.main = data["main"]
    if "scripts" in data:
        s = data["scripts"]
        if not isinstance(s, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in s.items()):
            raise bad("scripts", "must map script names to command strings")
        m.scripts = dict(s)
    for key in _DEP_FIELDS:
        if key not in data:
            continue
        deps = data[key]
        if not isinstance(deps, dict):
            raise bad(key, "must map package names to version ranges")
        for name, rng in deps.items():
            check_name(name, f"{key}.{name}")
            if not isinstance(rng, str):
                raise bad(f"{key}.{name}", "must be a version range string like '^1.2.0'")
            check_range(rng, f"{key}.{name}")
        if key == "dependencies":
            m.dependencies = dict(deps)
        else:
            m.dev_dependencies = dict(deps)
    return m


def load_manifest(directory: str | Path) -> Manifest:
    """Read and validate ``<directory>/hype.json``.

    Raises:
        ManifestError: ``MANIFEST_NOT_FOUND`` when missing, ``MANIFEST_INVALID`` otherwise.
    """
    path = Path(directory) / MANIFEST
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ManifestError(f"no {MANIFEST} in {Path(directory).resolve()}", code="MANIFEST_NOT_FOUND",
                            details={"path": str(path)},
                            suggestion="Run 'hype init' to create one.") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}", details={"path": str(path)}) from None
    return validate(data, path)


def save_manifest(directory: str | Path, raw: dict[str, Any]) -> Path:
    """Write ``raw`` as ``<directory>/hype.json`` (2-space indent, atomic). Returns the path."""
    path = Path(directory) / MANIFEST
    atomic_write(path, json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    return path


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)
