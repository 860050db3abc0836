"""Regression tests of the package-manager hardening: hostile names, tarball bombs, registry traversal,
typed limits.  Real registry servers on 127.0.0.1, real ``hype install`` into temporary directories."""

from __future__ import annotations

import base64
import json
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from hypelua._errors import (
    LockfileError,
    ManifestError,
    RegistryDocumentError,
    UnsafeInstallPathError,
    UnsafeTarballError,
)
from hypelua.cli import main
from hypelua.pm import FileRegistry, HttpRegistry, install, integrity, pack, resolve_tree
from hypelua.pm._install import swap_in
from hypelua.pm._manifest import load_manifest, parse_manifest
from hypelua.pm._server import create_app, running_in_thread
from hypelua.pm._tarball import scan

from .conftest import LiveRegistry
from .helpers import (
    SECRET,
    hostile_dep_file_registry,
    hostile_http_registry,
    make_source,
    pax_bomb,
    raw_http,
)

VICTIM = "../../../../victim_dir"


def tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def make_app(tmp_path: Path, deps: dict[str, str]) -> Path:
    app = tmp_path / "proj" / "a" / "b" / "c" / "app"
    app.mkdir(parents=True)
    (app / "hype.json").write_text(json.dumps({"name": "app", "version": "1.0.0", "dependencies": deps}))
    return app


def victim_dir(tmp_path: Path) -> Path:
    # VICTIM is relative to <app>/hype_modules: four levels up from it is tmp_path/"proj"
    v = tmp_path / "proj" / "victim_dir"
    v.mkdir(parents=True)
    (v / "keep.txt").write_text("mine")
    return v


# --- 4. dependency names inside registry documents and lock files --------------------------------------


def test_hostile_dependency_name_in_file_registry_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = hostile_dep_file_registry(tmp_path, VICTIM)
    victim = victim_dir(tmp_path)
    app = make_app(tmp_path, {"good": "1.0.0"})
    manifest_before = (app / "hype.json").read_bytes()
    assert main(["install", "--dir", str(app), "--registry", f"file:{root}"]) == 1
    err = capsys.readouterr().err
    assert "REGISTRY_DOCUMENT_INVALID" in err
    assert tree(victim) == {"keep.txt": b"mine"}
    assert not (app / "hype_modules").exists() and not (app / "hype-lock.json").exists()
    assert (app / "hype.json").read_bytes() == manifest_before
    with pytest.raises(RegistryDocumentError) as ei:
        FileRegistry(root).document("good")
    assert ei.value.details["field"].endswith(".dependencies")
    # the hostile name itself is no package name: the storage never looks it up
    assert FileRegistry(root).storage.document(VICTIM) is None


@pytest.mark.parametrize("bad", [VICTIM, "..", ".hidden", "_private", "a/b", "@s/../../x", "A\\b", "x\x00y",
                                 "hype_modules", "a" * 215, "@s/", "caf\u00e9", " a"])
def test_hostile_names_are_refused_by_the_resolver_itself(tmp_path: Path, bad: str) -> None:
    """Even with a registry client that does not validate, resolve_tree refuses the name at any depth."""

    class Raw:
        url = "raw:"

        def document(self, name: str) -> dict[str, Any]:
            deps = {bad: "1.0.0"} if name == "good" else {}
            return {"name": name, "versions": {"1.0.0": {"dependencies": deps, "dist": {
                "tarball": "http://x/t.tgz", "integrity": "sha512-x"}}}}

    with pytest.raises(UnsafeInstallPathError):
        resolve_tree({"good": "1"}, {}, Raw())  # type: ignore[arg-type]


def test_swap_in_refuses_paths_outside_hype_modules_before_writing(tmp_path: Path) -> None:
    victim = victim_dir(tmp_path)
    app = make_app(tmp_path, {})
    data = pack(make_source(tmp_path, "evil", "1.0.0"))
    entry = {"version": "1.0.0", "resolved": "http://x/e.tgz", "integrity": integrity(data)}
    for path in (f"hype_modules/{VICTIM}", "hype_modules/../../../../victim_dir", "hype_modules/a/../../..",
                 "../victim_dir", "hype_modules//x", "hype_modules/a/hype_modules/../../x"):
        with pytest.raises(UnsafeInstallPathError):
            swap_in(app, {path: entry}, {path: data}, None, "{}")
    assert tree(victim) == {"keep.txt": b"mine"}
    assert sorted(p.name for p in app.iterdir()) == ["hype.json"]  # no staging directory left either


def test_swap_in_refuses_a_symlinked_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid path whose parent resolves elsewhere (a symbolic link planted in the staging
    directory) is refused by the realpath check before anything is extracted."""
    import os

    victim = victim_dir(tmp_path)
    app = make_app(tmp_path, {})
    data = pack(make_source(tmp_path, "evil", "1.0.0"))
    entry = {"version": "1.0.0", "resolved": "http://x/e.tgz", "integrity": integrity(data)}
    orig_mkdir = Path.mkdir

    def mkdir(self: Path, *a: Any, **kw: Any) -> None:
        orig_mkdir(self, *a, **kw)
        if self.name == "hype_modules" and self.parent.name.startswith(".hype_modules.tmp-"):
            os.symlink(victim, self / "a")

    monkeypatch.setattr(Path, "mkdir", mkdir)
    path = "hype_modules/a/hype_modules/b"
    with pytest.raises(UnsafeInstallPathError):
        swap_in(app, {path: entry}, {path: data}, None, "{}")
    assert tree(victim) == {"keep.txt": b"mine"}


def test_hostile_dependency_name_over_http_is_refused(tmp_path: Path) -> None:
    victim = victim_dir(tmp_path)
    data = pack(make_source(tmp_path, "good", "1.0.0"))
    entry = {"version": "1.0.0", "dist": {"tarball": "BASE/t.tgz", "integrity": integrity(data)}}
    docs = {"good": {"name": "good", "versions": {"1.0.0": {**entry, "dependencies": {VICTIM: "1.0.0"}}}},
            VICTIM: {"name": VICTIM, "versions": {"1.0.0": dict(entry)}}}
    with hostile_http_registry(docs, {"/t.tgz": data}) as url:
        app = make_app(tmp_path, {"good": "1.0.0"})
        with pytest.raises(RegistryDocumentError):
            install(app, registry=url)
        assert main(["install", "--dir", str(app), "--registry", url]) == 1
        # a tarball URL on another scheme (file:) from an HTTP registry is refused too
        docs["good"]["versions"]["1.0.0"] = {**entry, "dist": {"tarball": "file:///etc/passwd",
                                                                "integrity": integrity(data)}}
        with pytest.raises(RegistryDocumentError):
            HttpRegistry(url).document("good")
    assert tree(victim) == {"keep.txt": b"mine"}
    assert not (app / "hype_modules").exists()


@pytest.mark.parametrize("key,entry_patch", [
    ("hype_modules/../../../../victim_dir", {}),
    ("hype_modules/%2e%2e/victim_dir", {}),
    ("hype_modules/ok", {"dependencies": {VICTIM: "1.0.0"}}),
    ("hype_modules/ok", {"resolved": "ftp://x/y.tgz"}),
    ("hype_modules/ok", {"version": "1" * 300}),
    ("hype_modules/ok/hype_modules/..", {}),
])
def test_hostile_lock_is_refused_with_frozen_lockfile(tmp_path: Path, key: str, entry_patch: dict[str, Any],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    victim = victim_dir(tmp_path)
    app = make_app(tmp_path, {"ok": "1.0.0"})
    data = pack(make_source(tmp_path, "ok", "1.0.0"))
    (tmp_path / "ok.tgz").write_bytes(data)
    entry = {"version": "1.0.0", "resolved": (tmp_path / "ok.tgz").as_uri(), "integrity": integrity(data),
             **entry_patch}
    lock = {"lockfileVersion": 1, "requires": {"dependencies": {"ok": "1.0.0"}, "devDependencies": {}},
            "packages": {key: entry}}
    (app / "hype-lock.json").write_text(json.dumps(lock))
    with pytest.raises(LockfileError) as ei:
        install(app, registry=f"file:{tmp_path / 'none'}", frozen=True)
    assert ei.value.code == "LOCKFILE_INVALID"
    assert main(["install", "--frozen-lockfile", "--dir", str(app), "--registry", f"file:{tmp_path}"]) == 1
    assert "LOCKFILE_INVALID" in capsys.readouterr().err
    assert tree(victim) == {"keep.txt": b"mine"}
    assert not (app / "hype_modules").exists()


def test_browser_installer_refuses_hostile_names(tmp_path: Path) -> None:
    import asyncio

    from hypelua.browser._install import install_async

    victim = victim_dir(tmp_path)
    data = pack(make_source(tmp_path, "good", "1.0.0"))
    entry = {"version": "1.0.0", "dist": {"tarball": "BASE/t.tgz", "integrity": integrity(data)}}
    docs = {"good": {"name": "good", "versions": {"1.0.0": {**entry, "dependencies": {VICTIM: "1.0.0"}}}},
            VICTIM: {"name": VICTIM, "versions": {"1.0.0": dict(entry)}},
            "deep": ("[" * 100_000).encode()}
    app = make_app(tmp_path, {})
    before = (app / "hype.json").read_bytes()
    with hostile_http_registry(docs, {"/t.tgz": data}) as url:
        with pytest.raises(RegistryDocumentError):
            asyncio.run(install_async(app, ["good"], registry=url))
        with pytest.raises(RegistryDocumentError) as ei:
            asyncio.run(install_async(app, ["deep"], registry=url))
        assert ei.value.code == "REGISTRY_DOCUMENT_TOO_DEEP"
        with pytest.raises(ManifestError):
            asyncio.run(install_async(app, [VICTIM], registry=url))
    assert (app / "hype.json").read_bytes() == before
    assert tree(victim) == {"keep.txt": b"mine"}
    assert not (app / "hype_modules").exists() and not (app / "hype-lock.json").exists()


# --- 5. tarball bombs --------------------------------------------------------------------------------


def test_pax_header_bomb_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    bomb = pax_bomb(1 << 30)
    assert len(bomb) < 2 << 20  # ~1 MB on the wire, 1 GiB declared
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeTarballError) as ei:
            scan(bomb)
        with pytest.raises(UnsafeTarballError):
            from hypelua.pm import safe_extract

            safe_extract(bomb, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "extended header" in ei.value.details["reason"]
    assert peak < 16 << 20, f"peak {peak} bytes"  # generous: the old reader held > 1 GiB


@pytest.mark.parametrize("case", ["gnu_longname", "pax_size_override", "sparse", "many_headers"])
def test_other_header_tricks_are_bounded(case: str, tmp_path: Path) -> None:
    import tarfile

    from .helpers import gzip_members, tar_bytes

    if case == "gnu_longname":
        info = tarfile.TarInfo("././@LongLink")
        info.type = tarfile.GNUTYPE_LONGNAME
        info.size = 50 << 20
        data = gzip_members(info.tobuf(tarfile.USTAR_FORMAT)) + gzip_members(b"a" * (1 << 20)) * 50
    elif case == "pax_size_override":
        f = tarfile.TarInfo("package/a.lua")
        f.pax_headers = {"size": str(10 << 30)}
        data = gzip_members(tar_bytes([(f, b"x")]))
    elif case == "sparse":
        f = tarfile.TarInfo("package/s")
        f.type = tarfile.GNUTYPE_SPARSE
        data = gzip_members(tar_bytes([(f, None)], tarfile.GNU_FORMAT))
    else:
        pax = tarfile.TarInfo("x")
        pax.type = tarfile.XHDTYPE
        rec = b"15 comment=abc\n"
        pax.size = len(rec)
        one = pax.tobuf(tarfile.USTAR_FORMAT) + rec.ljust(512, b"\0")
        data = gzip_members(one * 60_000)
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeTarballError):
            scan(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_server_refuses_the_bomb_off_the_event_loop(tmp_path: Path, registry_server: LiveRegistry,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The upload is inspected in a worker thread: while it runs, the server answers other requests."""
    from hypelua.pm import _tarball

    reg = registry_server
    bomb = pax_bomb(1 << 30)
    answered = threading.Event()
    real_scan = _tarball.scan

    def slow_scan(data: bytes, **kw: Any) -> list[str]:
        try:
            return real_scan(data, **kw)
        finally:
            # were this on the event loop, the GET below could not be answered and this would time out
            answered.wait(30)

    monkeypatch.setattr(_tarball, "scan", slow_scan)
    body = json.dumps({"manifest": {"name": "bomb", "version": "1.0.0"},
                       "tarball": base64.b64encode(bomb).decode()}).encode()
    result: dict[str, Any] = {}

    def upload() -> None:
        result["r"] = raw_http(reg.url, "PUT", "/bomb", body, {"Authorization": f"Bearer {reg.token}",
                                                                "Content-Type": "application/json"}, timeout=60)

    t = threading.Thread(target=upload)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while t.is_alive() and time.monotonic() < deadline:
            status, _, payload = raw_http(reg.url, "GET", "/", timeout=10)
            assert status == 200 and json.loads(payload)["ok"] is True
            if t.is_alive():
                break
        answered_while_busy = t.is_alive()
    finally:
        answered.set()
        t.join(60)
    assert answered_while_busy, "the upload finished before the server was probed"
    status, _, payload = result["r"]
    err = json.loads(payload)
    assert status == 400 and err["code"] == "UNSAFE_TARBALL" and set(err) >= {"code", "message", "details",
                                                                              "suggestion"}
    assert httpx.get(f"{reg.url}/bomb").status_code == 404


def test_upload_size_is_bounded(tmp_path: Path) -> None:
    with running_in_thread(create_app(tmp_path / "st", token="t", max_upload_bytes=1000)) as url:
        auth = {"Authorization": "Bearer t"}
        status, _, payload = raw_http(url, "PUT", "/x", b"{" + b" " * 5000 + b"}", auth)
        assert status == 413 and json.loads(payload)["code"] == "PAYLOAD_TOO_LARGE"
        def chunks() -> Any:  # no Content-Length: the streamed body is cut off at the limit
            for _ in range(100):
                yield b" " * 100

        r = httpx.put(f"{url}/x", content=chunks(), headers=auth)
        assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


# --- 6. registry path traversal ------------------------------------------------------------------------


TRAVERSALS = [
    "/..", "/../", "/%2E%2E", "/%2e%2e", "/../-/secret.tgz", "/%2E%2E/-/secret.tgz", "/%2e%2e/-/secret.tgz",
    "/..%2F-%2Fsecret.tgz", "/good/-/..%2F..%2Fsecret.tgz", "/good/-/%2E%2E%2F%2E%2E%2Fsecret.tgz",
    "/good/../../-/secret.tgz", "/@x%2F..%2F..", "/@x/../../-/secret.tgz", "/%2E%2E%5C-%5Csecret.tgz",
    "/..%5C-%5Csecret.tgz", "/good%00", "/%252E%252E/-/secret.tgz", "/good/-/.secret.tgz", "/./-/secret.tgz",
    "/.", "//", "/good/-/../../../secret.tgz", "/good/-/..\\..\\secret.tgz".replace("\\", "%5C"),
]


def test_registry_never_serves_outside_its_storage(tmp_path: Path, registry_server: LiveRegistry) -> None:
    reg = registry_server
    src = make_source(tmp_path, "good", "1.0.0")
    HttpRegistry(reg.url, token=reg.token).publish(json.loads((src / "hype.json").read_text()), pack(src))
    outside = reg.storage.parent
    (outside / "secret.tgz").write_bytes(SECRET)
    (outside / "index.json").write_text(json.dumps({"secret": SECRET.decode()}))
    (outside / "-").mkdir()
    (outside / "-" / "secret.tgz").write_bytes(SECRET)
    for target in TRAVERSALS:
        status, _, payload = raw_http(reg.url, "GET", target)
        assert status == 404, (target, status, payload[:200])
        assert SECRET not in payload
        err = json.loads(payload)
        assert set(err) >= {"code", "message", "details", "suggestion"}, target
    status, _, payload = raw_http(reg.url, "GET", "/good/-/good-1.0.0.tgz")
    assert status == 200 and payload[:2] == b"\x1f\x8b"
    status, _, payload = raw_http(reg.url, "GET", "/good")
    assert status == 200 and json.loads(payload)["name"] == "good"


# --- 7. typed 4xx errors, limits, and no hype.json change on a refused install -------------------------


def test_refused_install_leaves_hype_json_and_lock_unchanged(tmp_path: Path, registry_server: LiveRegistry) -> None:
    from .test_tarball import HOSTILE, tgz

    reg = registry_server
    ok = make_source(tmp_path, "fine", "1.0.0")
    HttpRegistry(reg.url, token=reg.token).publish(json.loads((ok / "hype.json").read_text()), pack(ok))
    app = make_app(tmp_path, {"fine": "^1"})
    assert main(["install", "--dir", str(app), "--registry", reg.url]) == 0
    # a registry that did not scan: put a hostile tarball in its storage by hand
    bad = tgz(HOSTILE["symlink"])
    d = reg.storage / "evil"
    d.mkdir()
    (d / "evil-1.0.0.tgz").write_bytes(bad)
    (d / "index.json").write_text(json.dumps({"name": "evil", "dist-tags": {"latest": "1.0.0"}, "versions": {
        "1.0.0": {"name": "evil", "version": "1.0.0", "dependencies": {},
                  "dist": {"tarball": "evil-1.0.0.tgz", "integrity": integrity(bad)}}}}))
    before = {p: (app / p).read_bytes() for p in ("hype.json", "hype-lock.json")}
    modules_before = tree(app / "hype_modules")
    assert main(["install", "evil", "--dir", str(app), "--registry", reg.url]) == 1
    assert {p: (app / p).read_bytes() for p in before} == before
    assert tree(app / "hype_modules") == modules_before
    assert main(["uninstall", "fine", "--dir", str(app), "--registry", f"file:{tmp_path / 'gone'}"]) == 0
    assert load_manifest(app).dependencies == {}
    assert main(["install", "fine", "--dir", str(app), "--registry", reg.url]) == 0
    assert load_manifest(app).dependencies == {"fine": "^1.0.0"}


def put(reg: LiveRegistry, name: str, manifest: Any, tarball: bytes = b"", raw: bytes | None = None
        ) -> tuple[int, dict[str, Any]]:
    body = raw if raw is not None else json.dumps(
        {"manifest": manifest, "tarball": base64.b64encode(tarball).decode()}).encode()
    status, _, payload = raw_http(reg.url, "PUT", f"/{name}", body,
                                  {"Authorization": f"Bearer {reg.token}", "Content-Type": "application/json"},
                                  timeout=60)
    err = json.loads(payload)
    if status >= 400:
        assert set(err) >= {"code", "message", "details", "suggestion"}, err
    return status, err


def test_publish_limits_are_typed_4xx(tmp_path: Path, registry_server: LiveRegistry) -> None:
    reg = registry_server
    data = pack(make_source(tmp_path, "lim", "1.0.0"))
    status, err = put(reg, "lim", {"name": "lim", "version": "1.0.0-" + "a" * 300}, data)
    assert status == 400 and err["code"] == "MANIFEST_INVALID"
    long_ok = "1.0.0-" + "a" * 250  # 256 characters: accepted, stored under a short file name
    status, entry = put(reg, "lim", {"name": "lim", "version": long_ok}, data)
    assert status == 201 and len(entry["dist"]["tarball"]) < 200
    nested = b'{"manifest": {"name": "lim", "version": "2.0.0", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    status, err = put(reg, "lim", None, raw=nested)
    assert status == 400 and err["code"] == "PUBLISH_BODY_TOO_DEEP"
    status, err = put(reg, "lim", {"name": "lim", "version": "2.0.0", "description": "d" * 10_000}, data)
    assert status == 400 and err["code"] == "MANIFEST_INVALID" and err["details"]["field"] == "description"
    status, err = put(reg, "lim", {"name": "lim", "version": "2.0.0", "description": "d" * (60 << 20)}, data)
    assert status == 413 and err["code"] in ("MANIFEST_TOO_LARGE", "PAYLOAD_TOO_LARGE")
    status, err = put(reg, "lim", None, raw=b"{not json")
    assert status == 400
    status, err = put(reg, "lim", None, raw=json.dumps({"manifest": {"name": "lim", "version": "2.0.0"},
                                                        "tarball": "!!"}).encode())
    assert status == 400 and err["code"] == "BAD_REQUEST"
    r = httpx.put(f"{reg.url}/lim", content=b"{}", headers={"Authorization": f"Bearer {reg.token}"})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"
    # the long version installs
    app = make_app(tmp_path, {"lim": long_ok})
    install(app, registry=reg.url)
    assert (app / "hype_modules" / "lim" / "init.lua").is_file()


def test_client_refuses_oversized_or_deep_documents(tmp_path: Path) -> None:
    docs = {"deep": ("[" * 100_000 + "]" * 100_000).encode(), "huge": b'{"x": "' + b"a" * (17 << 20) + b'"}',
            "notjson": b"{", "longver": {"name": "longver", "versions": {"1.0.0-" + "a" * 300: {
                "dist": {"tarball": "http://x/t.tgz", "integrity": "sha512-x"}}}}}
    with hostile_http_registry(docs, {}) as url:
        reg = HttpRegistry(url)
        codes = {}
        for name in docs:
            with pytest.raises(RegistryDocumentError) as ei:
                reg.document(name)
            codes[name] = ei.value.code
    assert codes == {"deep": "REGISTRY_DOCUMENT_TOO_DEEP", "huge": "REGISTRY_DOCUMENT_TOO_LARGE",
                     "notjson": "REGISTRY_DOCUMENT_INVALID", "longver": "REGISTRY_DOCUMENT_INVALID"}


def test_manifest_limits(tmp_path: Path) -> None:
    cases = {
        "[" * 100_000: "MANIFEST_TOO_DEEP",
        json.dumps({"name": "a", "description": "x" * (2 << 20)}): "MANIFEST_TOO_LARGE",
        json.dumps({"name": "a", "version": "1.0.0-" + "a" * 300}): "MANIFEST_INVALID",
        json.dumps({"name": "a", "main": "../../etc/passwd"}): "MANIFEST_INVALID",
        json.dumps({"name": "a", "dependencies": {VICTIM: "1"}}): "MANIFEST_INVALID",
        json.dumps({"name": "a", "dependencies": {"b": "^" * 2000}}): "MANIFEST_INVALID",
        b"\xff\xfe": "MANIFEST_INVALID",
    }
    for text, code in cases.items():
        with pytest.raises(ManifestError) as ei:
            parse_manifest(text)
        assert ei.value.code == code, text[:50]
    (tmp_path / "hype.json").write_text("[" * 100_000)
    assert main(["install", "--dir", str(tmp_path), "--registry", f"file:{tmp_path}"]) == 1
