"""The worker's project directory: confined file access and persistence.

In the browser, ``web/src/worker.mjs`` mounts Pyodide's IDBFS at
:data:`DEFAULT_ROOT` and loads it from IndexedDB before the runtime boots;
:meth:`ProjectFS.persist` (``FS.syncfs``) writes it back after every request
that may have changed files.  Natively (tests) any directory works and
persisting is a no-op.

Every path given by the page is confined to the project root: relative paths
are taken from the root, absolute paths must lie inside it, and whatever
escapes (``..``, another absolute path, a symbolic link pointing out) is refused
with :class:`HypeError` ``PATH_OUTSIDE_PROJECT``.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Callable
from typing import Any

from .._errors import HypeError

#: where the worker mounts the persisted project (IDBFS)
DEFAULT_ROOT = "/home/pyodide/project"
#: largest file ``writeFile`` accepts (characters)
MAX_FILE_CHARS = 8 * 1024 * 1024
#: directories :meth:`ProjectFS.list` does not descend into (unless asked for explicitly or ``all``)
HIDDEN_DIRS = frozenset({"hype_modules"})


class ProjectFS:
    """Confined file operations on the project directory.

    Args:
        root: the project directory (created if missing).
        sync: ``sync()`` (may return an awaitable) writing the directory back to
            persistent storage (IDBFS ``FS.syncfs(false)``); None: nothing to do.
    """

    def __init__(self, root: str, sync: Callable[[], Any] | None = None) -> None:
        os.makedirs(root, exist_ok=True)
        self.root = os.path.realpath(root)
        self._sync = sync

    # ------------------------------------------------------------ paths
    def resolve(self, path: Any, *, allow_root: bool = False) -> str:
        """The absolute path of ``path`` inside the project.

        Raises:
            HypeError: ``BAD_REQUEST`` (not a string, NUL), ``PATH_OUTSIDE_PROJECT`` (escapes the root).
        """
        if not isinstance(path, str) or "\0" in path:
            raise HypeError("a path must be a string without NUL characters", code="BAD_REQUEST",
                            details={"path": repr(path)})
        p = path.replace("\\", "/")
        full = os.path.normpath(p if p.startswith("/") else os.path.join(self.root, p))
        real = os.path.realpath(full)
        inside = real == self.root or real.startswith(self.root + "/")
        if not inside or (real == self.root and not allow_root):
            raise HypeError(f"path {path!r} is outside the project directory {self.root}",
                            code="PATH_OUTSIDE_PROJECT", details={"path": path, "root": self.root},
                            suggestion="Use a path relative to the project, without '..' leading out of it.")
        return real

    def relative(self, full: str) -> str:
        """``full`` relative to the root (POSIX separators; ``"."`` for the root)."""
        return os.path.relpath(full, self.root).replace(os.sep, "/")

    # ------------------------------------------------------------ files
    def write(self, path: str, text: str) -> dict[str, Any]:
        """Write UTF-8 ``text`` to ``path`` (parent directories created, atomic replace).

        Returns ``{"path", "size"}`` (size in bytes).
        """
        if not isinstance(text, str):
            raise HypeError("file contents must be a string", code="BAD_REQUEST")
        if len(text) > MAX_FILE_CHARS:
            raise HypeError(f"file larger than {MAX_FILE_CHARS} characters", code="REQUEST_TOO_LARGE")
        full = self.resolve(path)
        if os.path.isdir(full):
            raise HypeError(f"{path!r} is a directory", code="IS_A_DIRECTORY", details={"path": path})
        os.makedirs(os.path.dirname(full), exist_ok=True)
        data = text.encode("utf-8", "surrogatepass")
        tmp = f"{full}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, full)
        return {"path": self.relative(full), "size": len(data)}

    def read(self, path: str) -> str:
        """The UTF-8 text of ``path``.  Raises ``FILE_NOT_FOUND``, ``IS_A_DIRECTORY``."""
        full = self.resolve(path)
        if os.path.isdir(full):
            raise HypeError(f"{path!r} is a directory", code="IS_A_DIRECTORY", details={"path": path})
        try:
            with open(full, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            raise HypeError(f"no such file {path!r} in the project", code="FILE_NOT_FOUND",
                            details={"path": path}, suggestion="List the project with listFiles().") from None

    def list(self, directory: str = ".", *, all: bool = False) -> list[dict[str, Any]]:
        """Files and directories below ``directory``, recursively, sorted by path.

        Directories named ``hype_modules`` and dot-directories below ``directory`` are
        listed but not descended into unless ``all`` (list them explicitly to see inside).
        Returns ``[{"path", "type": "file" | "dir", "size"}]`` (paths relative to the root).
        """
        base = self.resolve(directory, allow_root=True)
        if not os.path.isdir(base):
            if os.path.isfile(base):
                return [{"path": self.relative(base), "type": "file", "size": os.path.getsize(base)}]
            raise HypeError(f"no such directory {directory!r} in the project", code="FILE_NOT_FOUND",
                            details={"path": directory})
        out: list[dict[str, Any]] = []
        for dirpath, dirnames, filenames in os.walk(base):
            keep = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                out.append({"path": self.relative(full), "type": "dir", "size": 0})
                if all or not (d in HIDDEN_DIRS or d.startswith(".")):
                    keep.append(d)
            dirnames[:] = keep
            for fn in filenames:
                full = os.path.join(dirpath, fn)
                try:
                    size = os.path.getsize(full)
                except OSError:
                    continue
                out.append({"path": self.relative(full), "type": "file", "size": size})
        return sorted(out, key=lambda e: e["path"])

    def remove(self, path: str) -> bool:
        """Delete a file or a directory (recursively); False when nothing was there."""
        full = self.resolve(path)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
            return True
        try:
            os.remove(full)
        except FileNotFoundError:
            return False
        return True

    async def persist(self) -> None:
        """Write the project back to persistent storage (IndexedDB in the browser)."""
        if self._sync is None:
            return
        result = self._sync()
        if inspect.isawaitable(result):
            await result
