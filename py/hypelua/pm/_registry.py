"""Registry protocol, storage and clients (HTTP and ``file:`` registries).

Protocol (npm-like):

* ``GET  <base>/<name>`` -> package document
  ``{"name", "dist-tags": {"latest"}, "versions": {v: {name, version, main, dependencies,
  dist: {tarball: URL, integrity: "sha512-..."}}}}``; 404 when unknown.
  Scoped names are sent as ``@scope%2fname``.
* ``GET  <tarball URL>`` -> the ``.tgz`` bytes.
* ``PUT  <base>/<name>`` with ``Authorization: Bearer <token>`` and JSON
  ``{"manifest": {...hype.json}, "tarball": base64, "integrity": "sha512-..."}``
  -> 201; 401 without/with a wrong token; 409 when the version exists; 400 when invalid.

A ``file:`` registry is a directory in the same layout the server stores
(:class:`RegistryStorage`): ``<dir>/<name>/index.json`` and ``<dir>/<name>/<file>.tgz``.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlparse

from .._errors import ManifestError, RegistryError, ResolutionError


def encode_name(name: str) -> str:
    """Path segment for a package name (``@scope/x`` -> ``@scope%2fx``)."""
    return quote(name, safe="@")


def tarball_filename(name: str, version: str) -> str:
    """``<basename>-<version>.tgz`` (scope dropped, like npm)."""
    return f"{name.rsplit('/', 1)[-1]}-{version}.tgz"


class RegistryStorage:
    """The on-disk layout shared by the registry server and ``file:`` registries.

    Args:
        root: the storage directory (created on first publish).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        return self.root / encode_name(name)

    def document(self, name: str) -> dict[str, Any] | None:
        """The stored document (tarball fields are file names, not URLs), or None."""
        try:
            return json.loads((self._dir(name) / "index.json").read_text("utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def tarball_path(self, name: str, filename: str) -> Path | None:
        """Path of a stored tarball, or None (also for names that would escape the package dir)."""
        if "/" in filename or filename.startswith(".") or not filename.endswith(".tgz"):
            return None
        p = self._dir(name) / filename
        return p if p.is_file() else None

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        """Store a new version.

        Args:
            manifest: the package's ``hype.json`` (validated here).
            tarball: the ``.tgz`` bytes (scanned for hostile content here).
        Returns:
            the stored version entry.
        Raises:
            ManifestError: invalid manifest (or a name/version missing).
            UnsafeTarballError: hostile tarball.
            RegistryError: ``VERSION_EXISTS`` (409) when that version is already published.
        """
        from ._manifest import validate
        from ._tarball import integrity, scan

        m = validate(manifest)
        m.require_publishable()
        assert m.name and m.version
        scan(tarball)
        d = self._dir(m.name)
        d.mkdir(parents=True, exist_ok=True)
        doc = self.document(m.name) or {"name": m.name, "dist-tags": {}, "versions": {}}
        if m.version in doc["versions"]:
            raise RegistryError(f"{m.name}@{m.version} is already published", code="VERSION_EXISTS",
                                details={"name": m.name, "version": m.version, "status": 409},
                                suggestion="Bump the version in hype.json and publish again.")
        filename = tarball_filename(m.name, m.version)
        tmp = d / f".{filename}.tmp-{os.getpid()}"
        tmp.write_bytes(tarball)
        os.replace(tmp, d / filename)
        entry: dict[str, Any] = {
            "name": m.name,
            "version": m.version,
            "dependencies": dict(m.dependencies),
            "dist": {"tarball": filename, "integrity": integrity(tarball)},
        }
        for key in ("main", "description", "license"):
            if isinstance(manifest.get(key), str):
                entry[key] = manifest[key]
        doc["versions"][m.version] = entry
        from ._semver import parse_version

        latest = max(doc["versions"], key=lambda v: parse_version(v))
        doc["dist-tags"]["latest"] = latest
        from ._manifest import atomic_write

        atomic_write(d / "index.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return entry

    def document_with_urls(self, name: str, base_url: str, sep: str = "/-/") -> dict[str, Any] | None:
        """The document with each ``dist.tarball`` made absolute: ``<base_url>/<name><sep><file>``
        (``/-/`` over HTTP, ``/`` for a ``file:`` registry)."""
        doc = self.document(name)
        if doc is None:
            return None
        base = base_url.rstrip("/")
        for entry in doc.get("versions", {}).values():
            dist = entry.get("dist", {})
            seg = encode_name(name) if sep != "/" else quote(encode_name(name), safe="@")
            dist["tarball"] = f"{base}/{seg}{sep}{dist.get('tarball')}"
        return doc


class Registry(Protocol):
    """What the installer needs from a registry."""

    url: str

    def document(self, name: str) -> dict[str, Any]:
        """The package document; raises :class:`ResolutionError` ``PACKAGE_NOT_FOUND``."""

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        """Publish a version; returns the version entry."""


def _not_found(name: str, url: str) -> ResolutionError:
    return ResolutionError(f"package {name!r} not found in registry {url}", code="PACKAGE_NOT_FOUND",
                           details={"name": name, "registry": url})


class FileRegistry:
    """A directory registry (``file:DIR``): tarball URLs are ``file://`` URLs."""

    def __init__(self, root: str | Path) -> None:
        self.storage = RegistryStorage(Path(root).resolve())
        self.url = "file:" + str(self.storage.root)

    def document(self, name: str) -> dict[str, Any]:
        doc = self.storage.document_with_urls(name, self.storage.root.as_uri(), "/")
        if doc is None:
            raise _not_found(name, self.url)
        return doc

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        return self.storage.publish(manifest, tarball)


class HttpRegistry:
    """An HTTP registry (``http://`` / ``https://``) through httpx.

    Args:
        url: base URL.
        token: bearer token for publishing.
        timeout: seconds per request.
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._client: Any = None

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout, follow_redirects=True)
        return self._client

    def _request(self, method: str, url: str, **kw: Any) -> Any:
        import httpx

        try:
            return self._http().request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise RegistryError(f"registry {self.url} unreachable: {exc}", code="REGISTRY_UNREACHABLE",
                                details={"url": url}) from None

    def document(self, name: str) -> dict[str, Any]:
        r = self._request("GET", f"{self.url}/{encode_name(name)}")
        if r.status_code == 404:
            raise _not_found(name, self.url)
        if r.status_code != 200:
            raise RegistryError(f"registry answered {r.status_code} for {name!r}",
                                details={"status": r.status_code, "body": r.text[:500]})
        try:
            return r.json()
        except ValueError:
            raise RegistryError(f"registry sent invalid JSON for {name!r}") from None

    def fetch(self, url: str) -> bytes:
        """GET a tarball URL; raises :class:`RegistryError`."""
        return fetch(url, client=self)

    def publish(self, manifest: dict[str, Any], tarball: bytes) -> dict[str, Any]:
        from ._tarball import integrity

        name = manifest.get("name")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"manifest": manifest, "tarball": base64.b64encode(tarball).decode("ascii"),
                "integrity": integrity(tarball)}
        r = self._request("PUT", f"{self.url}/{encode_name(str(name))}", json=body, headers=headers)
        if r.status_code in (200, 201):
            return r.json()
        try:
            err = r.json()
        except ValueError:
            err = {"message": r.text[:500]}
        code = err.get("code") or ("REGISTRY_UNAUTHORIZED" if r.status_code in (401, 403) else "REGISTRY_ERROR")
        msg = err.get("message") or f"registry answered {r.status_code}"
        if code.startswith("MANIFEST"):
            raise ManifestError(msg, code=code, details={"status": r.status_code})
        raise RegistryError(msg, code=code, details={"status": r.status_code, **(err.get("details") or {})})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def fetch(url: str, client: HttpRegistry | None = None) -> bytes:
    """Download a tarball from a ``file:`` or ``http(s):`` URL.

    Raises:
        RegistryError: ``TARBALL_NOT_FOUND`` / ``REGISTRY_UNREACHABLE`` / other HTTP failures.
    """
    from ._tarball import MAX_TARBALL_BYTES

    parsed = urlparse(url)
    if parsed.scheme == "file":
        try:
            data = Path(unquote(parsed.path)).read_bytes()
        except OSError:
            raise RegistryError(f"tarball {url} not found", code="TARBALL_NOT_FOUND", details={"url": url}) from None
    elif parsed.scheme in ("http", "https"):
        c = client or HttpRegistry(f"{parsed.scheme}://{parsed.netloc}")
        r = c._request("GET", url)
        if r.status_code != 200:
            raise RegistryError(f"GET {url} answered {r.status_code}", code="TARBALL_NOT_FOUND",
                                details={"url": url, "status": r.status_code})
        data = r.content
    else:
        raise RegistryError(f"unsupported tarball URL {url!r}", details={"url": url})
    if len(data) > MAX_TARBALL_BYTES:
        raise RegistryError(f"tarball {url} is larger than {MAX_TARBALL_BYTES} bytes", code="TARBALL_TOO_LARGE")
    return data


def default_registry_url() -> str:
    """``$HYPE_REGISTRY`` or the file registry ``file:$HYPE_HOME/registry``."""
    env = os.environ.get("HYPE_REGISTRY")
    if env:
        return env
    from ..modules import hype_home

    return "file:" + os.path.join(hype_home(), "registry")


def open_registry(url: str | None = None, token: str | None = None) -> FileRegistry | HttpRegistry:
    """A client for ``url`` (``http(s)://...``, ``file:DIR``, ``file:///DIR`` or a plain directory).

    ``token`` defaults to ``$HYPE_TOKEN``.
    """
    url = url or default_registry_url()
    token = token if token is not None else os.environ.get("HYPE_TOKEN")
    if url.startswith(("http://", "https://")):
        return HttpRegistry(url, token)
    if url.startswith("file://"):
        return FileRegistry(unquote(urlparse(url).path))
    if url.startswith("file:"):
        return FileRegistry(url[5:])
    return FileRegistry(url)
