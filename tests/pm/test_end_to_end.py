"""A real multi-package project published to and installed from a registry server started here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hypelua import Runtime
from hypelua._errors import IntegrityError, LockfileError, RegistryError
from hypelua.cli import main
from hypelua.pm import HttpRegistry, install, pack

from .conftest import LiveRegistry

PACKAGES = {
    # util: three versions; fmt@1 wants util ^1 while the app wants util ^2 -> nested install
    ("util", "1.0.0"): ({}, "return { version = '1.0.0' }"),
    ("util", "1.1.0"): ({}, "return { version = '1.1.0' }"),
    ("util", "2.0.0"): ({}, "return { version = '2.0.0', shout = function(s) return s:upper() end }"),
    ("fmt", "1.0.0"): ({"util": "^1.0.0"},
                       "local util = require('util')\n"
                       "return { describe = function() return 'fmt uses util ' .. util.version end }"),
    ("greet", "1.2.3"): ({"fmt": "^1"},
                         "local fmt = require('fmt')\nlocal M = {}\n"
                         "function M.hello(n) return 'hello ' .. n .. ' (' .. fmt.describe() .. ')' end\nreturn M"),
    ("greet", "1.3.0"): ({"fmt": "^1"}, "return { hello = function() return 'too new' end }"),
}


def make_package(root: Path, name: str, version: str, deps: dict[str, str], code: str) -> Path:
    d = root / f"{name}-{version}"
    (d / "lib").mkdir(parents=True)
    (d / "hype.json").write_text(json.dumps({"name": name, "version": version, "main": "lib/main.lua",
                                             "dependencies": deps}))
    (d / "lib" / "main.lua").write_text(code)
    (d / "README.md").write_text(f"# {name}\n")
    return d


def publish_all(tmp_path: Path, reg: LiveRegistry) -> None:
    for (name, version), (deps, code) in PACKAGES.items():
        d = make_package(tmp_path / "src", name, version, deps, code)
        assert main(["publish", "--dir", str(d), "--registry", reg.url, "--token", reg.token]) == 0


def make_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "hype.json").write_text(json.dumps({
        "name": "app", "version": "0.1.0", "main": "main.lua",
        "dependencies": {"fmt": "^1.0.0", "greet": "~1.2.0", "util": "^2"},
    }, indent=2))
    (app / "main.lua").write_text(
        "local greet = require('greet')\nlocal util = require('util')\n"
        "return greet.hello('ann'), util.version, util.shout('ok'), require('fmt').describe()\n")
    return app


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_publish_install_run_lock_frozen(tmp_path: Path, registry_server: LiveRegistry, hype_home: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    reg = registry_server
    publish_all(tmp_path, reg)
    app = make_app(tmp_path)

    assert main(["install", "--dir", str(app), "--registry", reg.url]) == 0
    mods = app / "hype_modules"
    assert json.loads((mods / "util" / "hype.json").read_text())["version"] == "2.0.0"
    assert json.loads((mods / "fmt" / "hype_modules" / "util" / "hype.json").read_text())["version"] == "1.1.0"
    assert json.loads((mods / "greet" / "hype.json").read_text())["version"] == "1.2.3"
    assert not (mods / "greet" / "hype_modules").exists()  # fmt is hoisted and shared

    with Runtime(":memory:") as rt:
        out = rt.execute_file(app / "main.lua")
    assert out == ("hello ann (fmt uses util 1.1.0)", "2.0.0", "OK", "fmt uses util 1.1.0")

    lock_text = (app / "hype-lock.json").read_text()
    lock = json.loads(lock_text)
    assert set(lock["packages"]) == {"hype_modules/fmt", "hype_modules/fmt/hype_modules/util",
                                     "hype_modules/greet", "hype_modules/util"}
    entry = lock["packages"]["hype_modules/fmt/hype_modules/util"]
    assert entry["version"] == "1.1.0" and entry["integrity"].startswith("sha512-")
    assert entry["resolved"] == f"{reg.url}/util/-/util-1.1.0.tgz"

    # from scratch (no hype_modules, no lock, empty cache): byte-for-byte the same lock
    shutil.rmtree(mods)
    (app / "hype-lock.json").unlink()
    shutil.rmtree(hype_home, ignore_errors=True)
    assert main(["install", "--dir", str(app), "--registry", reg.url]) == 0
    assert (app / "hype-lock.json").read_text() == lock_text

    # the lock is honoured: a newer greet matching a widened range is not picked while the lock matches
    res = install(app, registry=reg.url)
    assert res.changed is False and res.lock_written is False

    # frozen install works from the lock (offline: the registry URL is dead, cache has everything)
    shutil.rmtree(mods)
    res = install(app, registry="http://127.0.0.1:9", frozen=True)
    assert res.cached == 4 and res.fetched == 0
    assert (app / "hype-lock.json").read_text() == lock_text

    # --frozen-lockfile fails when hype.json changed, and leaves hype_modules untouched
    before = snapshot(mods)
    manifest = json.loads((app / "hype.json").read_text())
    manifest["dependencies"]["greet"] = "^1.2.0"
    (app / "hype.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["install", "--dir", str(app), "--registry", reg.url, "--frozen-lockfile"]) == 1
    assert "LOCKFILE_OUT_OF_DATE" in capsys.readouterr().err
    with pytest.raises(LockfileError):
        install(app, registry=reg.url, frozen=True)
    assert snapshot(mods) == before
    assert (app / "hype-lock.json").read_text() == lock_text

    # a normal install re-resolves, keeping locked versions that still satisfy (greet 1.2.3 fits ^1.2.0)
    res = install(app, registry=reg.url)
    lock2 = json.loads((app / "hype-lock.json").read_text())
    assert lock2["packages"] == lock["packages"] and lock2["requires"]["dependencies"]["greet"] == "^1.2.0"
    # a range the locked version no longer satisfies moves it (hype install greet@^1.3)
    assert main(["install", "greet@^1.3", "--dir", str(app), "--registry", reg.url]) == 0
    lock3 = json.loads((app / "hype-lock.json").read_text())
    assert lock3["packages"]["hype_modules/greet"]["version"] == "1.3.0"
    assert lock3["packages"]["hype_modules/util"] == lock["packages"]["hype_modules/util"]
    assert json.loads((mods / "greet" / "hype.json").read_text())["version"] == "1.3.0"

    # ls shows the nested install
    capsys.readouterr()
    assert main(["ls", "--dir", str(app)]) == 0
    text = capsys.readouterr().out
    assert "  └─ util@1.1.0" in text and "└─ greet@1.3.0" in text


def test_integrity_mismatch_refused_and_hype_modules_untouched(tmp_path: Path, registry_server: LiveRegistry,
                                                               hype_home: Path) -> None:
    reg = registry_server
    publish_all(tmp_path, reg)
    app = make_app(tmp_path)
    install(app, registry=reg.url)
    before = snapshot(app / "hype_modules")
    lock_before = (app / "hype-lock.json").read_text()
    # the registry's stored tarball is replaced after the lock recorded its integrity
    evil = make_package(tmp_path / "evil", "util", "2.0.0", {}, "return { version = 'EVIL' }")
    (reg.storage / "util" / "util-2.0.0.tgz").write_bytes(pack(evil))
    shutil.rmtree(hype_home)  # no offline cache
    shutil.rmtree(app / "hype_modules" / "greet")  # force a re-install
    before = snapshot(app / "hype_modules")
    with pytest.raises(IntegrityError) as ei:
        install(app, registry=reg.url, frozen=True)
    assert ei.value.code == "INTEGRITY_MISMATCH"
    assert snapshot(app / "hype_modules") == before
    assert (app / "hype-lock.json").read_text() == lock_before
    assert not list(app.glob(".hype_modules.tmp-*"))


def test_registry_auth_and_conflicts(tmp_path: Path, registry_server: LiveRegistry) -> None:
    reg = registry_server
    d = make_package(tmp_path / "src", "solo", "1.0.0", {}, "return 1")
    data = pack(d)
    manifest = json.loads((d / "hype.json").read_text())
    with pytest.raises(RegistryError) as ei:
        HttpRegistry(reg.url, token="wrong").publish(manifest, data)
    assert ei.value.code == "REGISTRY_UNAUTHORIZED" and ei.value.details["status"] == 401
    with pytest.raises(RegistryError):
        HttpRegistry(reg.url).publish(manifest, data)
    HttpRegistry(reg.url, token=reg.token).publish(manifest, data)
    with pytest.raises(RegistryError) as ei:
        HttpRegistry(reg.url, token=reg.token).publish(manifest, data)
    assert ei.value.code == "VERSION_EXISTS"
    doc = HttpRegistry(reg.url).document("solo")
    assert doc["dist-tags"]["latest"] == "1.0.0"
    assert doc["versions"]["1.0.0"]["dist"]["tarball"] == f"{reg.url}/solo/-/solo-1.0.0.tgz"


def test_server_refuses_hostile_and_mismatched_uploads(tmp_path: Path, registry_server: LiveRegistry) -> None:
    import base64

    import httpx

    from .test_tarball import HOSTILE, tgz

    reg = registry_server
    with pytest.raises(RegistryError) as ei:
        HttpRegistry(reg.url, token=reg.token).publish({"name": "evil", "version": "1.0.0"}, tgz(HOSTILE["dotdot"]))
    assert ei.value.code == "UNSAFE_TARBALL"
    body = {"manifest": {"name": "evil", "version": "1.0.0"},
            "tarball": base64.b64encode(b"x").decode(), "integrity": "sha512-AAAA"}
    r = httpx.put(f"{reg.url}/evil", json=body, headers={"Authorization": f"Bearer {reg.token}"})
    assert r.status_code == 400 and r.json()["code"] == "INTEGRITY_MISMATCH"
    r = httpx.put(f"{reg.url}/other", json=body, headers={"Authorization": f"Bearer {reg.token}"})
    assert r.status_code == 400 and r.json()["code"] == "MANIFEST_INVALID"
    assert httpx.get(f"{reg.url}/evil").status_code == 404
    assert httpx.get(f"{reg.url}/evil/-/../../etc.tgz").status_code == 404


def test_registry_serve_command(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    from .conftest import _free_port

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "registry", "serve", "--storage",
                             str(tmp_path / "st"), "--port", str(port), "--token", "t"],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        assert r.json()["ok"] is True
        d = make_package(tmp_path / "src", "served", "0.1.0", {}, "return 'served'")
        assert main(["publish", "--dir", str(d), "--registry", f"http://127.0.0.1:{port}", "--token", "t"]) == 0
        assert HttpRegistry(f"http://127.0.0.1:{port}").document("served")["dist-tags"]["latest"] == "0.1.0"
    finally:
        proc.terminate()
        proc.wait(10)
