"""``hype.json``: the package manifest (name, version, main, scripts, dependencies, devDependencies).

The raw JSON object is kept (unknown fields and key order survive a rewrite);
:func:`validate` checks every known field and raises :class:`ManifestError`
naming the field.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ManifestError
from ._limits import MAX_DEPENDENCIES, MAX_DESCRIPTION_LENGTH, MAX_MANIFEST_BYTES, MAX_NAME_LENGTH, loads_bounded

MANIFEST = "hype.json"
NAME_RE = re.compile(r"^(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$")
#: names that would be confused with the install layout (npm refuses ``node_modules`` and ``favicon.ico`` too)
RESERVED_NAMES = frozenset({"hype_modules", "node_modules", "favicon.ico"})
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


def is_valid_name(name: Any) -> bool:
    """True for a valid package name (see :func:`check_name`); never raises."""
    return (isinstance(name, str) and 0 < len(name) <= MAX_NAME_LENGTH and NAME_RE.match(name) is not None
            and name.rsplit("/", 1)[-1] not in RESERVED_NAMES)


def check_name(name: Any, where: str = "name") -> str:
    """Validate a package name (npm rules: lowercase, ``[a-z0-9._-]``, optional ``@scope/``, ≤ 214 chars).

    The first character of the name (and of the scope) is a letter or digit, so
    a name is never ``.``/``..``, never starts with ``.`` or ``_``, and holds no
    path separator but the one after ``@scope``; ``hype_modules``,
    ``node_modules`` and ``favicon.ico`` are reserved.  Every name used as a
    path (from ``hype.json``, a registry document or ``hype-lock.json``) goes
    through this check.

    Returns the name.  Raises :class:`ManifestError` (``details["field"] = where``).
    """
    if not is_valid_name(name):
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
    if not all(isinstance(k, str) for k in data):
        raise ManifestError(f"{where} has a non-string key", details={"path": where})
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
        main = data["main"]
        if not isinstance(main, str) or not main or len(main) > 1024 or os.path.isabs(main) \
                or main.startswith(("/", "\\")) or any(ord(c) < 0x20 for c in main) \
                or ".." in main.replace("\\", "/").split("/"):
            raise bad("main", "must be a relative path inside the package like 'init.lua'")
        m.main = main
    if "description" in data:
        d = data["description"]
        if not isinstance(d, str):
            raise bad("description", "must be a string")
        if len(d) > MAX_DESCRIPTION_LENGTH:
            raise bad("description", f"is longer than {MAX_DESCRIPTION_LENGTH} characters ({len(d)})")
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
        if len(deps) > MAX_DEPENDENCIES:
            raise bad(key, f"has more than {MAX_DEPENDENCIES} entries")
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
        with open(path, "rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"no {MANIFEST} in {Path(directory).resolve()}", code="MANIFEST_NOT_FOUND",
                            details={"path": str(path)},
                            suggestion="Run 'hype init' to create one.") from None
    except (IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}", details={"path": str(path)}) from None
    return parse_manifest(raw, path)


def parse_manifest(text: str | bytes, path: Path | None = None) -> Manifest:
    """Parse and validate the text of a ``hype.json``.

    Args:
        text: the JSON text (bytes: UTF-8), at most :data:`MAX_MANIFEST_BYTES`, nesting at most 64 deep.
        path: where it was read from (for messages).
    Returns:
        a :class:`Manifest`.
    Raises:
        ManifestError: ``MANIFEST_TOO_LARGE``, ``MANIFEST_TOO_DEEP`` or ``MANIFEST_INVALID``
        (not JSON, or an invalid field).
    """
    data = loads_bounded(text, what=str(path) if path else MANIFEST, max_bytes=MAX_MANIFEST_BYTES,
                         error=ManifestError, code_base="MANIFEST")
    return validate(data, path)


def save_manifest(directory: str | Path, raw: dict[str, Any]) -> Path:
    """Write ``raw`` as ``<directory>/hype.json`` (2-space indent, atomic). Returns the path."""
    path = Path(directory) / MANIFEST
    atomic_write(path, json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    return path


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8) or bytes to ``path`` through a unique temporary file and ``os.replace``
    (safe against concurrent writers in threads and processes: the last rename wins, nothing is torn)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
