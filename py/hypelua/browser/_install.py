"""``hype.install()`` in the browser: the package manager over an async HTTP ``fetch``.

Same code as ``hype install`` for everything but the network: resolution is
:func:`hypelua.pm.resolve_tree` (fed with documents fetched asynchronously, see
:func:`resolve_tree_async`), integrity is :func:`hypelua.pm._tarball.verify` (SRI sha512),
extraction and the atomic swap of ``hype_modules`` are :func:`hypelua.pm._install.swap_in`
(:func:`hypelua.pm.safe_extract`: the same hostile-path checks), the lock file is
:mod:`hypelua.pm._lockfile` (validated by :func:`hypelua.pm._lockfile.check_packages`), documents are
checked by :func:`hypelua.pm._registry.parse_document` (size, nesting, every name/version/range/URL).
``hype.json`` edits are :func:`hypelua.pm._install.plan_add`, written only after a successful install.

``http_get(url) -> (status, body bytes)`` is pluggable: ``pyodide.http.pyfetch`` in
the worker (CORS: the registry must allow the page's origin, see
``hype registry serve --cors``), httpx natively.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .._errors import HypeError, RegistryError

HttpGet = Callable[[str], Awaitable[tuple[int, bytes]]]


async def default_http_get(url: str) -> tuple[int, bytes]:
    """GET ``url``: ``pyodide.http.pyfetch`` under Pyodide, else httpx.  Returns ``(status, body)``."""
    import sys

    if sys.platform == "emscripten":
        from pyodide.http import pyfetch

        r = await pyfetch(url, method="GET", mode="cors", credentials="omit")
        return int(r.status), await r.bytes()
    import httpx

    async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as client:
        resp = await client.get(url)
        return resp.status_code, resp.content


class AsyncRegistry:
    """An HTTP registry read through ``http_get`` (documents are cached per instance).

    Args:
        url: the registry base URL (``http(s)://...``).
        http_get: the transport (default :func:`default_http_get`).
    """

    def __init__(self, url: str, http_get: HttpGet | None = None) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise HypeError(f"registry must be an http(s) URL, got {url!r}", code="BAD_REQUEST",
                            suggestion="Pass {registry: 'https://registry.example/'} (CORS-enabled).")
        self.url = url.rstrip("/")
        self._get = http_get or default_http_get
        self.docs: dict[str, dict[str, Any]] = {}

    async def _request(self, url: str) -> tuple[int, bytes]:
        try:
            return await self._get(url)
        except HypeError:
            raise
        except Exception as exc:  # a network/CORS failure surfaces as a JS TypeError or OSError
            raise RegistryError(f"registry {self.url} unreachable: {type(exc).__name__}: {exc}",
                                code="REGISTRY_UNREACHABLE", details={"url": url},
                                suggestion="Check the URL and that the registry sends CORS headers "
                                           "for this page (hype registry serve --cors ORIGIN).") from None

    async def document(self, name: str) -> dict[str, Any]:
        """The package document.  Raises ``PACKAGE_NOT_FOUND`` (404), :class:`RegistryError`."""
        if name in self.docs:
            return self.docs[name]
        from ..pm._manifest import check_name
        from ..pm._registry import encode_name, parse_document

        check_name(name)
        status, body = await self._request(f"{self.url}/{encode_name(name)}")
        # the same checks as hype install: 16 MiB, 64 levels, every name/version/range/URL validated
        doc = parse_document(name, status, body, self.url)
        self.docs[name] = doc
        return doc

    async def tarball(self, url: str) -> bytes:
        """The bytes of a tarball URL.  Raises ``TARBALL_NOT_FOUND`` / ``TARBALL_TOO_LARGE``."""
        from ..pm._tarball import MAX_TARBALL_BYTES

        if not url.startswith(("http://", "https://")):
            raise RegistryError(f"unsupported tarball URL {url!r} in the browser", details={"url": url})
        status, data = await self._request(url)
        if status != 200:
            raise RegistryError(f"GET {url} answered {status}", code="TARBALL_NOT_FOUND",
                                details={"url": url, "status": status})
        if len(data) > MAX_TARBALL_BYTES:
            raise RegistryError(f"tarball {url} is larger than {MAX_TARBALL_BYTES} bytes", code="TARBALL_TOO_LARGE")
        return data


class _Prefetched:
    """The synchronous registry view :mod:`hypelua.pm` expects, over already fetched documents."""

    def __init__(self, url: str, docs: dict[str, dict[str, Any]]) -> None:
        self.url = url
        self.docs = docs

    def document(self, name: str) -> dict[str, Any]:
        doc = self.docs.get(name)
        if doc is None:
            raise _NeedDocument(name)
        return doc


class _NeedDocument(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


async def resolve_tree_async(deps: dict[str, str], dev: dict[str, str], registry: AsyncRegistry,
                             preferred: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`hypelua.pm.resolve_tree` with documents fetched asynchronously.

    Runs the (synchronous, deterministic) resolver over the documents fetched so
    far; when it needs another one it stops, the document is fetched, and it runs
    again -- one pass per package, each cheap.
    """
    from ..pm._install import resolve_tree

    while True:
        try:
            return resolve_tree(deps, dev, _Prefetched(registry.url, registry.docs), preferred)  # type: ignore[arg-type]
        except _NeedDocument as need:
            await registry.document(need.name)


async def install_async(project: str | Path, specs: list[str] | None = None, *, registry: str,
                        http_get: HttpGet | None = None, dev: bool = False,
                        progress: Callable[[str, int, int], Any] | None = None) -> dict[str, Any]:
    """Add ``specs`` (``name[@range]``) to ``<project>/hype.json`` and install its dependencies.

    ``hype.json`` is created (``{"name": "project", "version": "0.0.0"}``) when missing.
    Nothing is written unless every tarball was fetched and verified: on any error
    ``hype_modules``, ``hype.json`` and ``hype-lock.json`` keep their contents.

    Returns:
        ``{"added": {name: range}, "packages": {install path: lock entry}, "fetched": n,
        "changed": bool, "lock_written": bool}``.
    Raises:
        ManifestError, ResolutionError, RegistryError (``RegistryDocumentError``), IntegrityError,
        UnsafeTarballError, UnsafeInstallPathError, LimitExceededError.
    """
    from ..pm._install import INSTALLED, MODULES, parse_spec, plan_add, swap_in
    from ..pm._lockfile import LOCKFILE, check_packages, dumps, make_lock, matches, package_name, read_lock
    from ..pm._manifest import MANIFEST, atomic_write, check_name, load_manifest, save_manifest, validate
    from ..pm._tarball import verify

    root = Path(project)
    reg = AsyncRegistry(registry, http_get)
    manifest_path = root / MANIFEST
    raw: dict[str, Any] | None = None if manifest_path.is_file() else {"name": "project", "version": "0.0.0"}
    # nothing below writes hype.json, hype-lock.json or hype_modules until every check passed
    added: dict[str, str] = {}
    if specs:
        for spec in specs:
            name, _ = parse_spec(str(spec))
            check_name(name, str(spec))
            await reg.document(name)
        added, raw = plan_add(root, [str(s) for s in specs], dev=dev, base_raw=raw,
                              registry=_Prefetched(reg.url, reg.docs))  # type: ignore[arg-type]
    manifest = load_manifest(root) if raw is None else validate(raw, manifest_path)
    deps, devd = manifest.dependencies, manifest.dev_dependencies
    lock = read_lock(root)
    if lock is not None and matches(lock, deps, devd):
        packages = lock["packages"]
    else:
        if progress:
            progress("resolve", 0, 1)
        preferred = {k: v["version"] for k, v in (lock or {}).get("packages", {}).items()}
        packages = await resolve_tree_async(deps, devd, reg, preferred)
    check_packages(packages)
    text = dumps(make_lock(manifest.name, manifest.version, deps, devd, packages))
    marker = dumps({"packages": packages})
    modules = root / MODULES
    installed = modules / INSTALLED
    changed = not (modules.is_dir() and installed.is_file() and installed.read_text("utf-8") == marker
                   and all((root / p).is_dir() for p in packages))
    fetched = 0
    if changed:
        blobs: dict[str, bytes] = {}
        for i, (path, entry) in enumerate(packages.items()):
            data = await reg.tarball(entry["resolved"])
            verify(data, entry["integrity"],
                   what=f"{package_name(path)}@{entry['version']} ({entry['resolved']})")
            blobs[path] = data
            fetched += 1
            if progress:
                progress("fetch", i + 1, len(packages))
        swap_in(root, packages, blobs, progress, marker)
    if raw is not None:
        save_manifest(root, raw)
    lock_path = root / LOCKFILE
    lock_written = not lock_path.is_file() or lock_path.read_text("utf-8") != text
    if lock_written:
        atomic_write(lock_path, text)
    return {"added": added, "packages": packages, "fetched": fetched, "changed": changed,
            "lock_written": lock_written}
