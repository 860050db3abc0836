"""The package manager: ``hype.json``, npm semver ranges, ``hype-lock.json``, tarballs, registries.

One hop to each piece: :mod:`._manifest` (hype.json), :mod:`._semver` (npm ranges),
:mod:`._install` (resolution with nested installs, atomic install), :mod:`._lockfile`,
:mod:`._tarball` (pack, SRI integrity, safe extraction), :mod:`._cache` (offline cache),
:mod:`._registry` (protocol, file and HTTP clients), :mod:`._server` (``hype registry serve``),
:mod:`._cli` (subcommands), :mod:`._limits` (size/nesting limits and the bounded JSON reader).
Nothing here is imported by ``hype run``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "InstallResult": "._install", "add_dependencies": "._install", "install": "._install",
    "remove_dependencies": "._install", "resolve_tree": "._install",
    "Manifest": "._manifest", "load_manifest": "._manifest", "validate": "._manifest",
    "FileRegistry": "._registry", "HttpRegistry": "._registry", "RegistryStorage": "._registry",
    "open_registry": "._registry",
    "integrity": "._tarball", "pack": "._tarball", "safe_extract": "._tarball",
}

__all__ = [
    "FileRegistry",
    "HttpRegistry",
    "InstallResult",
    "Manifest",
    "RegistryStorage",
    "add_dependencies",
    "install",
    "integrity",
    "load_manifest",
    "open_registry",
    "pack",
    "remove_dependencies",
    "resolve_tree",
    "safe_extract",
    "validate",
]


def __getattr__(name: str) -> Any:
    """Lazy attributes (``hype run`` imports ``hypelua.pm._cli`` only)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hypelua.pm' has no attribute {name!r}")
