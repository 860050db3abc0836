"""Dependency resolution and installation into ``hype_modules/``.

Resolution (npm v3 style, deterministic): breadth-first over the tree, names in
sorted order, the highest version matching each range.  A dependency already
visible from the requiring package (Node's lookup: its own ``hype_modules``,
then each ancestor's) and matching the range is reused; if none is visible it is
hoisted to the top ``hype_modules``; if a *conflicting* version is visible, it is
nested under the requiring package (``hype_modules/a/hype_modules/b``).

Installation never leaves a half-written ``hype_modules``: every tarball is
fetched (offline cache first), verified against its SRI integrity and extracted
with :func:`safe_extract` into a temporary directory next to ``hype_modules``,
which then replaces it with two renames.  No install scripts are run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import LimitExceededError, LockfileError, ResolutionError, UnsafeInstallPathError
from ._cache import TarballCache
from ._limits import MAX_TREE_DEPTH, MAX_TREE_PACKAGES
from ._lockfile import LOCKFILE, check_packages, dumps, install_path_names, make_lock, matches, package_name, read_lock
from ._manifest import MANIFEST, Manifest, atomic_write, is_valid_name, load_manifest, validate
from ._registry import FileRegistry, HttpRegistry, fetch, open_registry
from ._semver import max_satisfying, parse_range, satisfies

MODULES = "hype_modules"
#: a copy of the lock describing what ``hype_modules`` holds (to skip no-op installs)
INSTALLED = ".hype-lock.json"


@dataclass
class _Node:
    name: str
    version: str
    path: str  # "" for the root, else "hype_modules/a/hype_modules/b"
    parent: _Node | None
    dependencies: dict[str, str] = field(default_factory=dict)
    resolved: str = ""
    integrity: str = ""
    dev: bool = False
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass
class InstallResult:
    """What :func:`install` did.

    Attributes:
        packages: install path -> lock entry.
        fetched: tarballs downloaded; cached: tarballs taken from the offline cache.
        changed: False when ``hype_modules`` was already up to date.
        lock_written: whether ``hype-lock.json`` was (re)written.
    """

    packages: dict[str, dict[str, Any]]
    fetched: int = 0
    cached: int = 0
    changed: bool = True
    lock_written: bool = False


class _Docs:
    def __init__(self, registry: FileRegistry | HttpRegistry) -> None:
        self.registry = registry
        self.docs: dict[str, dict[str, Any]] = {}

    def get(self, name: str) -> dict[str, Any]:
        doc = self.docs.get(name)
        if doc is None:
            doc = self.registry.document(name)  # validated by the registry client (validate_document)
            if not isinstance(doc, dict) or not isinstance(doc.get("versions"), dict):
                from .._errors import RegistryDocumentError

                raise RegistryDocumentError(f"registry sent a malformed document for {name!r}",
                                            details={"name": name})
            self.docs[name] = doc
        return doc


def resolve_tree(deps: dict[str, str], dev: dict[str, str], registry: FileRegistry | HttpRegistry,
                 preferred: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Resolve the dependency tree.

    Args:
        deps / dev: the root's ``dependencies`` / ``devDependencies`` (name -> npm range).
        registry: where package documents come from.
        preferred: install path -> version to keep when it still satisfies (from an old lock).
    Returns:
        install path -> ``{"version", "resolved", "integrity", "dependencies"[, "dev"]}``.
    Raises:
        ResolutionError: ``PACKAGE_NOT_FOUND``, ``NO_MATCHING_VERSION``, ``INVALID_RANGE``.
        UnsafeInstallPathError: a dependency name that is not a valid package name (at any depth).
        LimitExceededError: ``TREE_TOO_LARGE`` -- over 10,000 packages or nested over 32 deep.
        RegistryError: the registry failed (``RegistryDocumentError``: a hostile document).
    """
    docs = _Docs(registry)
    count = 0
    preferred = preferred or {}
    root = _Node("", "", "", None)
    wanted = {**dev, **deps}
    queue: deque[tuple[_Node, list[tuple[str, str]]]] = deque([(root, sorted(wanted.items()))])
    while queue:
        node, items = queue.popleft()
        for name, rng in items:
            if not is_valid_name(name):
                shown = name[:100] if isinstance(name, str) else repr(name)[:100]
                raise UnsafeInstallPathError(
                    f"invalid dependency name {shown!r}" + (f" (required by {node.name}@{node.version})"
                                                            if node.name else ""),
                    details={"name": shown, "required_by": node.name or None, "reason": "invalid package name"})
            if not isinstance(rng, str):
                raise ResolutionError(f"the range of {name!r} is not a string", code="INVALID_RANGE",
                                      details={"name": name})
            parse_range(rng)
            found = _lookup(node, name)
            if found is not None and satisfies(found.version, rng):
                continue
            target = root if found is None else node
            path = f"{target.path}/{MODULES}/{name}" if target.path else f"{MODULES}/{name}"
            count += 1
            if count > MAX_TREE_PACKAGES or path.count(f"/{MODULES}/") >= MAX_TREE_DEPTH:
                raise LimitExceededError(
                    f"the dependency tree has more than {MAX_TREE_PACKAGES} packages or nests deeper than "
                    f"{MAX_TREE_DEPTH}", code="TREE_TOO_LARGE",
                    details={"packages": count, "path": path[:300], "limit": MAX_TREE_PACKAGES,
                             "depth_limit": MAX_TREE_DEPTH})
            doc = docs.get(name)
            versions = doc["versions"]
            version = preferred.get(path)
            if version is None or version not in versions or not satisfies(version, rng):
                version = max_satisfying(versions.keys(), rng)
            if version is None:
                raise ResolutionError(
                    f"no version of {name!r} matches {rng!r}"
                    + (f" (required by {node.name}@{node.version})" if node.name else ""),
                    details={"name": name, "range": rng, "available": sorted(versions)[-20:],
                             "required_by": node.name or None})
            entry = versions[version]
            dist = entry.get("dist") or {}
            child = _Node(name, version, path, target, dict(entry.get("dependencies") or {}),
                          str(dist.get("tarball", "")), str(dist.get("integrity", "")))
            target.children[name] = child
            queue.append((child, sorted(child.dependencies.items())))
    _mark_dev(root, deps)
    out: dict[str, dict[str, Any]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.children.values():
            e: dict[str, Any] = {"version": child.version, "resolved": child.resolved,
                                 "integrity": child.integrity}
            if child.dependencies:
                e["dependencies"] = dict(sorted(child.dependencies.items()))
            if child.dev:
                e["dev"] = True
            out[child.path] = e
            stack.append(child)
    return dict(sorted(out.items()))


def _lookup(node: _Node, name: str) -> _Node | None:
    n: _Node | None = node
    while n is not None:
        if name in n.children:
            return n.children[name]
        n = n.parent
    return None


def _mark_dev(root: _Node, deps: dict[str, str]) -> None:
    """Flag every node not reachable from a production dependency as ``dev``."""
    prod: set[int] = set()
    todo = [c for n, c in root.children.items() if n in deps]
    while todo:
        node = todo.pop()
        if id(node) in prod:
            continue
        prod.add(id(node))
        for dep in node.dependencies:
            target = _lookup(node, dep)
            if target is not None:
                todo.append(target)
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.children.values():
            child.dev = id(child) not in prod
            stack.append(child)


def _fetch_verified(entry: dict[str, Any], path: str, cache: TarballCache,
                    registry: FileRegistry | HttpRegistry) -> tuple[bytes, bool]:
    from ._tarball import verify

    sri = entry["integrity"]
    data = cache.get(sri)
    if data is not None:
        return data, True
    client = registry if isinstance(registry, HttpRegistry) else None
    data = fetch(entry["resolved"], client=client)
    verify(data, sri, what=f"{package_name(path)}@{entry['version']} ({entry['resolved']})")
    cache.put(sri, data)
    return data, False


def install(project: str | Path = ".", *, registry: FileRegistry | HttpRegistry | str | None = None,
            frozen: bool = False, production: bool = False, cache: TarballCache | None = None,
            progress: Callable[[str, int, int], None] | None = None,
            manifest_raw: dict[str, Any] | None = None) -> InstallResult:
    """Install the dependencies of ``<project>/hype.json`` into ``<project>/hype_modules``.

    Uses ``hype-lock.json`` as is when it matches ``hype.json`` (no registry
    documents needed; tarballs come from the offline cache when present),
    else re-resolves keeping locked versions that still satisfy, and rewrites it.

    Args:
        project: the project directory.
        registry: client or URL (default :func:`open_registry`).
        frozen: refuse to change the lock (``--frozen-lockfile``; CI).
        production: skip ``devDependencies`` (the lock still records them).
        cache: offline cache (default ``$HYPE_HOME/cache``).
        progress: ``progress(phase, done, total)`` callback (phases ``resolve``, ``fetch``, ``extract``).
        manifest_raw: a new ``hype.json`` object to install instead of the file's (``hype install PKG``,
            ``hype uninstall PKG``): it is written to ``hype.json`` only once the install succeeded.
    Returns:
        :class:`InstallResult`.
    Raises:
        ManifestError, LockfileError, ResolutionError, RegistryError, LimitExceededError,
        IntegrityError, UnsafeTarballError, UnsafeInstallPathError (then ``hype_modules``,
        ``hype.json`` and ``hype-lock.json`` are untouched).
    """
    project = Path(project).resolve()
    manifest: Manifest = load_manifest(project) if manifest_raw is None \
        else validate(manifest_raw, project / MANIFEST)
    reg = open_registry(registry) if registry is None or isinstance(registry, str) else registry
    cache = cache or TarballCache()
    lock = read_lock(project)
    deps, dev = manifest.dependencies, manifest.dev_dependencies
    if lock is not None and matches(lock, deps, dev):
        packages = lock["packages"]
    elif frozen:
        why = "there is no hype-lock.json" if lock is None else "hype-lock.json does not match hype.json"
        raise LockfileError(f"--frozen-lockfile: {why}",
                            details={"dependencies": deps, "devDependencies": dev,
                                     "locked": (lock or {}).get("requires")})
    else:
        if progress:
            progress("resolve", 0, 1)
        preferred = {k: v["version"] for k, v in (lock or {}).get("packages", {}).items()}
        packages = resolve_tree(deps, dev, reg, preferred)
        if progress:
            progress("resolve", 1, 1)
    check_packages(packages)
    new_lock = make_lock(manifest.name, manifest.version, deps, dev, packages)
    text = dumps(new_lock)
    wanted = {k: v for k, v in packages.items() if not (production and v.get("dev"))}
    result = InstallResult(packages=wanted)
    modules = project / MODULES
    installed = modules / INSTALLED
    marker = dumps({"packages": wanted})
    if modules.is_dir() and installed.is_file() and installed.read_text("utf-8") == marker \
            and all((project / p).is_dir() for p in wanted):
        result.changed = False
    else:
        _materialise(project, wanted, reg, cache, result, progress, marker)
    if manifest_raw is not None:
        from ._manifest import save_manifest

        save_manifest(project, manifest_raw)
    lock_path = project / LOCKFILE
    if not frozen and (not lock_path.is_file() or lock_path.read_text("utf-8") != text):
        atomic_write(lock_path, text)
        result.lock_written = True
    return result


def _materialise(project: Path, packages: dict[str, dict[str, Any]], reg: FileRegistry | HttpRegistry,
                 cache: TarballCache, result: InstallResult,
                 progress: Callable[[str, int, int], None] | None, marker: str) -> None:
    total = len(packages)
    blobs: dict[str, bytes] = {}
    for i, (path, entry) in enumerate(packages.items()):
        data, hit = _fetch_verified(entry, path, cache, reg)
        blobs[path] = data
        if hit:
            result.cached += 1
        else:
            result.fetched += 1
        if progress:
            progress("fetch", i + 1, total)
    swap_in(project, packages, blobs, progress, marker)


def swap_in(project: Path, packages: dict[str, dict[str, Any]], blobs: dict[str, bytes],
            progress: Callable[[str, int, int], None] | None, marker: str) -> None:
    """Extract verified tarballs (``blobs``: install path -> bytes) with :func:`safe_extract`
    into a staging directory and swap it in as ``<project>/hype_modules`` (two renames).

    The browser installer (:mod:`hypelua.browser._install`) fetches asynchronously and calls this too.
    Every install path is checked before anything is written: a valid path
    (:func:`hypelua.pm._lockfile.install_path_names`) that stays inside
    ``<project>/hype_modules/`` lexically and inside the staging directory once
    resolved (``realpath``).
    Raises:
        UnsafeTarballError: a hostile tarball.  UnsafeInstallPathError: a hostile install path.
        (``hype_modules`` is untouched either way.)
    """
    from ._tarball import safe_extract

    check_packages(packages)
    final = os.path.join(os.path.realpath(project), MODULES)
    for path in packages:
        names = install_path_names(path)
        lexical = os.path.normpath(os.path.join(final, *path.split("/")[1:]))
        if names is None or not lexical.startswith(final + os.sep):
            raise UnsafeInstallPathError(f"refusing install path {path[:300]!r}: outside {MODULES}/",
                                         details={"path": path[:300], "reason": "outside hype_modules"})
    total = len(packages)
    tmp = Path(tempfile.mkdtemp(prefix=".hype_modules.tmp-", dir=project))
    try:
        staged = tmp / MODULES
        staged.mkdir()
        staged_real = os.path.realpath(staged)
        targets: dict[str, str] = {}
        for path in packages:
            target = os.path.realpath(os.path.join(staged_real, *path.split("/")[1:]))
            if os.path.commonpath([staged_real, target]) != staged_real or target == staged_real:
                raise UnsafeInstallPathError(f"refusing install path {path[:300]!r}: it resolves outside {MODULES}/",
                                             details={"path": path[:300], "reason": "resolves outside hype_modules"})
            targets[path] = target
        for i, path in enumerate(sorted(packages, key=lambda p: (p.count("/"), p))):
            safe_extract(blobs[path], targets[path])
            if progress:
                progress("extract", i + 1, total)
        (staged / INSTALLED).write_text(marker, "utf-8")
        modules = project / MODULES
        old = tmp / "old"
        if modules.exists() or modules.is_symlink():
            os.replace(modules, old)
        os.replace(staged, modules)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``name[@range]`` -> ``(name, range or None)`` (``@scope/name@^1`` works)."""
    at = spec.rfind("@")
    if at > 0:
        return spec[:at], spec[at + 1:] or None
    return spec, None


def add_dependencies(project: str | Path, specs: list[str], *, dev: bool = False,
                     registry: FileRegistry | HttpRegistry | str | None = None) -> dict[str, str]:
    """Add ``name[@range]`` entries to ``hype.json`` (a bare name saves ``^<latest>``) without installing.

    ``hype install PKG`` uses :func:`plan_add` and :func:`install` instead, so that a
    refused install leaves ``hype.json`` unchanged.
    Returns the added name -> range.  Raises ManifestError, ResolutionError, RegistryError.
    """
    from ._manifest import save_manifest

    added, raw = plan_add(project, specs, dev=dev, registry=registry)
    save_manifest(project, raw)
    return added


def plan_add(project: str | Path, specs: list[str], *, dev: bool = False,
             registry: FileRegistry | HttpRegistry | str | None = None,
             base_raw: dict[str, Any] | None = None) -> tuple[dict[str, str], dict[str, Any]]:
    """The ``hype.json`` object with ``name[@range]`` entries added (nothing is written).

    ``base_raw``: the manifest object to start from (default: ``<project>/hype.json``).

    Returns:
        ``(added name -> range, new raw manifest object)``.
    Raises:
        ManifestError, ResolutionError, RegistryError.
    """
    import copy

    from ._manifest import check_name
    from ._semver import check_range

    project = Path(project)
    m = load_manifest(project) if base_raw is None else validate(base_raw, project / MANIFEST)
    reg = open_registry(registry) if registry is None or isinstance(registry, str) else registry
    key = "devDependencies" if dev else "dependencies"
    other = "dependencies" if dev else "devDependencies"
    added: dict[str, str] = {}
    for spec in specs:
        name, rng = parse_spec(spec)
        check_name(name, spec)
        doc = reg.document(name)
        if rng is None:
            latest = (doc.get("dist-tags") or {}).get("latest") or max_satisfying(doc["versions"].keys(), "*")
            if latest is None:
                raise ResolutionError(f"{name!r} has no published versions", details={"name": name})
            rng = f"^{latest}"
        else:
            check_range(rng, spec)
            if max_satisfying(doc["versions"].keys(), rng) is None:
                raise ResolutionError(f"no version of {name!r} matches {rng!r}",
                                      details={"name": name, "range": rng, "available": sorted(doc["versions"])})
        added[name] = rng
    raw = copy.deepcopy(m.raw)
    section = dict(raw.get(key) or {})
    section.update(added)
    raw[key] = dict(sorted(section.items()))
    if isinstance(raw.get(other), dict):
        for name in added:
            raw[other].pop(name, None)
    validate(raw, project / MANIFEST)
    return added, raw


def remove_dependencies(project: str | Path, names: list[str]) -> list[str]:
    """Remove names from ``dependencies`` and ``devDependencies`` of ``hype.json`` (written now);
    returns the names removed.  ``hype uninstall`` uses :func:`plan_remove` and :func:`install`."""
    from ._manifest import save_manifest

    removed, raw = plan_remove(project, names)
    save_manifest(project, raw)
    return removed


def plan_remove(project: str | Path, names: list[str]) -> tuple[list[str], dict[str, Any]]:
    """``(names removed, the hype.json object without them)``; nothing is written.  Raises ManifestError."""
    import copy

    raw = copy.deepcopy(load_manifest(project).raw)
    removed = []
    for key in ("dependencies", "devDependencies"):
        section = raw.get(key)
        if isinstance(section, dict):
            for n in names:
                if section.pop(n, None) is not None:
                    removed.append(n)
    return removed, raw


def tree_lines(project: str | Path) -> list[str]:
    """Lines of ``hype ls``: the installed tree from ``hype-lock.json`` (nested packages indented)."""
    lock = read_lock(project)
    m = load_manifest(project)
    lines = [f"{m.name or Path(project).resolve().name}@{m.version or '0.0.0'} {Path(project).resolve()}"]
    if lock is None:
        lines.append("(no hype-lock.json: run 'hype install')")
        return lines
    for path, entry in sorted(lock["packages"].items()):
        depth = len(install_path_names(path) or [path]) - 1
        present = (Path(project) / path).is_dir()
        flag = "" if present else "  (missing: run 'hype install')"
        dev = " (dev)" if entry.get("dev") else ""
        lines.append(f"{'  ' * depth}{'└─ '}{package_name(path)}@{entry['version']}{dev}{flag}")
    return lines
