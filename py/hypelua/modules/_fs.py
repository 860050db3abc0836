"""The tiny file-system interface module resolution reads through.

Natively :class:`NativeFS` reads the real file system.  In the browser the
worker's file system (Pyodide's MEMFS, or any store) is plugged in by passing
another object with the same three methods to :func:`hypelua.modules.install_require`.
"""

from __future__ import annotations

import os


class ModuleFS:
    """What the resolver needs from a file system (paths are POSIX-style absolute strings).

    A plain base class (``typing.Protocol`` costs start-up time): implementations
    subclass it or simply provide the three methods.
    """

    def is_file(self, path: str) -> bool:
        """True if ``path`` is a regular file."""

    def is_dir(self, path: str) -> bool:
        """True if ``path`` is a directory."""

    def read_text(self, path: str) -> str | None:
        """The UTF-8 text of ``path``, or None when it cannot be read."""


class NativeFS:
    """:class:`ModuleFS` over ``os`` (works natively and on Pyodide's MEMFS)."""

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def list_dir(self, path: str) -> list[str]:
        """Entry names of directory ``path`` (empty if it is not one); optional in a ModuleFS."""
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def read_text(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except (OSError, UnicodeDecodeError):
            return None


class MemoryFS:
    """:class:`ModuleFS` over a dict ``{absolute_path: text}`` (tests, browser bundles)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = {os.path.normpath(k): v for k, v in files.items()}
        self.dirs: set[str] = set()
        for k in self.files:
            d = os.path.dirname(k)
            while d and d not in self.dirs:
                self.dirs.add(d)
                parent = os.path.dirname(d)
                if parent == d:
                    break
                d = parent

    def is_file(self, path: str) -> bool:
        return os.path.normpath(path) in self.files

    def is_dir(self, path: str) -> bool:
        return os.path.normpath(path) in self.dirs

    def read_text(self, path: str) -> str | None:
        return self.files.get(os.path.normpath(path))

    def list_dir(self, path: str) -> list[str]:
        base = os.path.normpath(path)
        out = {os.path.basename(p) for p in (*self.files, *self.dirs) if os.path.dirname(p) == base}
        return sorted(out)
