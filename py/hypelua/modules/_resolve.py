"""Node's module resolution algorithm, adapted to Lua (SPEC section 3 "A. Runtime").

``resolve(request, caller)`` maps a ``require`` argument to one file:

1. ``./x``, ``../x``, ``/x``: relative to the requiring file's directory (the
   working directory for chunks that are not files): LOAD_AS_FILE then LOAD_AS_DIRECTORY.
2. bare ``name`` (or ``name/sub``): ``hype_modules/name`` in the requiring
   file's directory, then in every parent directory up to the root.
3. built-ins: ``hype.x`` / ``hype/x`` -> ``<lua_path()>/hype/x.lua``.
4. global modules: ``$HYPE_HOME/modules/name`` (default ``~/.hype/modules``).
5. Lua's own ``package.path`` templates, so libraries installed for plain Lua load too.

LOAD_AS_FILE(X): ``X`` if it is a file, then ``X.lua``.
LOAD_AS_DIRECTORY(X): ``X/hype.json``'s ``main`` (as a file, then as a directory
with ``init.lua``), then ``X/init.lua``.  A dotted bare name (``a.b``) is also tried
as ``a/b`` (Lua's convention) after the literal name.
"""

from __future__ import annotations

import os

from .._errors import LuaModuleNotFoundError
from ._fs import ModuleFS, NativeFS

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any


def hype_home() -> str:
    """``$HYPE_HOME`` or ``~/.hype`` (holds ``modules/``, ``cache/``, ``registry/``)."""
    return os.environ.get("HYPE_HOME") or os.path.join(os.path.expanduser("~"), ".hype")


class Resolver:
    """Resolves ``require`` requests to module files through a :class:`ModuleFS`.

    Args:
        fs: file access (default :class:`NativeFS`).
        builtin_dir: directory holding ``hype/*.lua`` (default :func:`hypelua._runtime.lua_path`).
        global_dir: directory of global modules (default ``hype_home()/modules``).
        cwd: base directory for requests from non-file chunks (default: ``os.getcwd()`` at call time).
        roots: confine resolution to these directories (``Runtime(sandbox=True)``): a
            request that leaves them fails with ``MODULE_OUTSIDE_SANDBOX`` before any
            file outside is probed, ``hype_modules`` is searched only up to a root, a
            found file whose real path (symlinks resolved) is outside is refused too,
            and there are no built-in files, global modules or ``package.path``
            templates (built-ins come from the sandbox's ``package.loaded``).
    """

    def __init__(self, fs: ModuleFS | None = None, *, builtin_dir: str | None = None,
                 global_dir: str | None = None, cwd: str | None = None,
                 roots: list[str] | None = None) -> None:
        self.fs: ModuleFS = fs or NativeFS()
        self.roots = [os.path.realpath(r) for r in roots] if roots is not None else None
        if self.roots is not None:
            builtin_dir, global_dir = "", ""
        if builtin_dir is None:
            from .._runtime import lua_dir

            builtin_dir = lua_dir()
        self.builtin_dir = builtin_dir
        self.global_dir = global_dir if global_dir is not None else os.path.join(hype_home(), "modules")
        self.cwd = cwd
        self._mains: dict[str, str | None] = {}
        #: (request, caller, tried) of the last failed resolution (for :meth:`fail`)
        self.last_failure: tuple[str, str | None, list[str]] | None = None

    # ------------------------------------------------------------ confinement
    def inside(self, path: str) -> bool:
        """True when ``path`` (made absolute, symlinks resolved) is inside a root (always, without roots)."""
        if self.roots is None:
            return True
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots)

    def _outside(self, request: str, caller: str | None) -> None:
        raise LuaModuleNotFoundError(
            f"module '{request}' is outside the sandbox's project directory",
            code="MODULE_OUTSIDE_SANDBOX",
            details={"name": request, "from": caller, "roots": list(self.roots or [])},
            suggestion="Sandboxed code may require files of its project, its hype_modules and the built-ins only.",
        )

    # ------------------------------------------------------------ algorithm
    def _file(self, x: str, tried: list[str]) -> str | None:
        fs = self.fs
        for cand in (x, x + ".lua"):
            tried.append(cand)
            if fs.is_file(cand):
                return cand
        return None

    def _main_of(self, directory: str) -> str | None:
        manifest = directory + "/hype.json"
        if manifest in self._mains:
            return self._mains[manifest]
        main = None
        if self.fs.is_file(manifest):
            text = self.fs.read_text(manifest)
            if text:
                import json

                try:
                    data = json.loads(text)
                except ValueError:
                    data = None
                if isinstance(data, dict) and isinstance(data.get("main"), str) and data["main"]:
                    main = data["main"]
        self._mains[manifest] = main
        return main

    def _dir(self, x: str, tried: list[str]) -> str | None:
        main = self._main_of(x)
        if main is not None:
            m = os.path.normpath(os.path.join(x, main))
            found = self._file(m, tried) or self._index(m, tried)
            if found:
                return found
        return self._index(x, tried)

    def _index(self, x: str, tried: list[str]) -> str | None:
        cand = x + "/init.lua"
        tried.append(cand)
        return cand if self.fs.is_file(cand) else None

    def _load(self, x: str, tried: list[str]) -> str | None:
        return self._file(x, tried) or self._dir(x, tried)

    def _base_dir(self, caller: str | None) -> str:
        if caller:
            return os.path.dirname(os.path.abspath(caller))
        return os.path.abspath(self.cwd or os.getcwd())

    def find(self, request: str, caller: str | None = None) -> tuple[str | None, list[str]]:
        """Resolve without raising.

        Args:
            request: the ``require`` argument.
            caller: path of the requiring file (None: a chunk that is not a file).
        Returns:
            ``(path or None, tried)``: the absolute, normalised module path and every path probed.
        """
        tried: list[str] = []
        confined = self.roots is not None
        if confined and ("\0" in request or "\\" in request):
            return None, tried
        if request.startswith(("./", "../", "/")) or request in (".", ".."):
            x = os.path.normpath(os.path.join(self._base_dir(caller), request))
            if confined and not self.inside(x):
                self._outside(request, caller)
            return self._confine(self._load(x, tried), request, caller), tried
        if not request or "\0" in request or request.startswith("\\"):
            return None, tried
        if confined and (os.path.isabs(request) or ".." in request.replace("\\", "/").split("/")):
            self._outside(request, caller)
        names = [request]
        if "." in request and "/" not in request:
            names.append(request.replace(".", "/"))
        directory = self._base_dir(caller)
        while not confined or self.inside(directory):
            if os.path.basename(directory) != "hype_modules":
                base = os.path.join(directory, "hype_modules")
                for n in names:
                    found = self._load(os.path.normpath(os.path.join(base, n)), tried)
                    if found:
                        return self._confine(found, request, caller), tried
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        if confined:
            return None, tried
        for n in names:
            if n == "hype" or n.startswith("hype/"):
                found = self._load(os.path.normpath(os.path.join(self.builtin_dir, n)), tried)
                if found:
                    return found, tried
        if self.global_dir:
            for n in names:
                found = self._load(os.path.normpath(os.path.join(self.global_dir, n)), tried)
                if found:
                    return found, tried
        return None, tried

    def _confine(self, found: str | None, request: str, caller: str | None) -> str | None:
        if found is not None and self.roots is not None and not self.inside(found):
            self._outside(request, caller)
        return found

    def find_lua_path(self, request: str, package_path: str, tried: list[str]) -> str | None:
        """Lua's ``package.searchpath(request, package_path)`` through :attr:`fs` (appends to ``tried``)."""
        name = request.replace(".", "/")
        for template in package_path.split(";"):
            if not template:
                continue
            cand = template.replace("?", name)
            tried.append(cand)
            if self.fs.is_file(cand):
                return os.path.abspath(cand)
        return None

    def resolve(self, request: str, caller: str | None = None, package_path: str | None = None) -> str:
        """Resolve ``request`` or raise.

        Returns:
            the absolute module path.
        Raises:
            LuaModuleNotFoundError: ``details = {"name", "from", "tried": [paths]}``.
        """
        path, tried = self.find(request, caller)
        if path is None and package_path and self.roots is None and not request.startswith((".", "/")):
            path = self.find_lua_path(request, package_path, tried)
        if path is None:
            self.last_failure = (request, caller, tried)
            self.fail()
        return path  # type: ignore[return-value]

    def fail(self) -> None:
        """Raise :class:`LuaModuleNotFoundError` for :attr:`last_failure`."""
        request, caller, tried = self.last_failure or ("?", None, [])
        where = f" (required from {caller})" if caller else ""
        lines = "".join(f"\n\tno file '{t}'" for t in tried)
        raise LuaModuleNotFoundError(
            f"module '{request}' not found{where}:{lines}",
            details={"name": request, "from": caller, "tried": list(tried)},
        )

    # ------------------------------------------------------------ Lua glue
    def lua_resolve(self, request: Any, caller: Any, package_path: Any) -> tuple[str | None, str | None]:
        """Called from ``require.lua`` on a cache miss: one bridge crossing per cold require.

        Returns:
            ``(path, source)`` where source is prefixed so that the module sees its
            own ``require`` (bound to its path) without shifting line numbers; or
            ``(None, None)`` when not found (then ``fail`` raises the typed error).
        """
        if not isinstance(request, str):
            raise TypeError(f"bad argument #1 to 'require' (string expected, got {type(request).__name__})")
        path, tried = self.find(request, caller if isinstance(caller, str) else None)
        if path is None and isinstance(package_path, str) and self.roots is None \
                and not request.startswith((".", "/")):
            path = self.find_lua_path(request, package_path, tried)
        if path is None:
            self.last_failure = (request, caller if isinstance(caller, str) else None, tried)
            return None, None
        text = self.fs.read_text(path)
        if text is None:
            raise OSError(f"cannot read module file {path!r}")
        if text.startswith("#"):
            text = "--" + text
        return path, "local require=select(3,...);" + text

    # ------------------------------------------------------------ installed versions (hype.actor deps)
    def installed_versions(self, name: str, base: str | None = None) -> list[tuple[str, str]]:
        """Every installed copy of package ``name`` visible from ``base`` (default: :attr:`cwd`).

        Looks in the ``hype_modules`` of ``base`` and of each parent directory (inside the
        roots when confined) for ``hype_modules/<name>`` (the hoisted copy),
        ``hype_modules/<name>@<version>`` (a versioned directory, installed by hand) and
        nested copies ``hype_modules/<pkg>/hype_modules/<name>`` at any depth (what the
        package manager installs when two dependents need conflicting versions).  A copy's
        version is its ``hype.json`` ``version`` (else the ``@<version>`` suffix).

        Returns:
            ``[(directory, version), ...]`` nearest first; copies without a version are skipped.
        """
        fs = self.fs
        listdir = getattr(fs, "list_dir", None)
        if listdir is None:
            return []
        found: list[tuple[str, str]] = []
        seen: set[str] = set()

        def version_of(d: str, suffix: str | None) -> str | None:
            text = fs.read_text(d + "/hype.json") if fs.is_file(d + "/hype.json") else None
            if text:
                import json

                try:
                    data = json.loads(text)
                except ValueError:
                    data = None
                if isinstance(data, dict) and isinstance(data.get("version"), str):
                    return data["version"]
            return suffix

        def scan(hm: str, depth: int) -> None:
            if depth > 16 or hm in seen or not fs.is_dir(hm):
                return
            seen.add(hm)
            entries = listdir(hm)
            for entry in entries:
                d = hm + "/" + entry
                if self.roots is not None and not self.inside(d):
                    continue
                if entry == name or entry.startswith(name + "@"):
                    v = version_of(d, entry[len(name) + 1:] if entry != name else None)
                    if v:
                        found.append((d, v))
            for entry in entries:
                scan(hm + "/" + entry + "/hype_modules", depth + 1)

        directory = os.path.abspath(base or self.cwd or os.getcwd())
        while self.roots is None or self.inside(directory):
            scan(os.path.join(directory, "hype_modules"), 0)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        return found

    def lua_find_package(self, name: Any, rng: Any) -> tuple[str | None, str | None, str | None]:
        """Called from ``hype.actor`` (``spawn{ deps = { name = range } }``): the highest installed
        version of ``name`` satisfying the npm range ``rng``.

        Returns:
            ``(directory, version, None)``, or ``(None, None, why)`` (nothing installed
            satisfies it; ``why`` lists what is installed, or names a bad range).
        """
        from ..pm._semver import max_satisfying

        if not isinstance(name, str) or not isinstance(rng, str):
            return None, None, "a dependency is a package name and a version range (strings)"
        copies = self.installed_versions(name)
        try:
            best = max_satisfying([v for _, v in copies], rng)
        except Exception as exc:  # ResolutionError: INVALID_RANGE
            return None, None, f"invalid version range {rng!r}: {getattr(exc, 'message', exc)}"
        if best is None:
            have = ", ".join(sorted({v for _, v in copies})) or "none"
            return None, None, f"no installed version of {name} satisfies {rng!r} (installed: {have})"
        for d, v in copies:
            if v == best:
                return d, v, None
        return None, None, "unreachable"  # pragma: no cover
