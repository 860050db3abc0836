"""hype.json validation, npm ranges, resolution (hoisting, nesting, dev flags), lock file checks, CLI commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hypelua._errors import LockfileError, ManifestError, ResolutionError
from hypelua.cli import main
from hypelua.pm import FileRegistry, install, load_manifest, pack, resolve_tree, validate
from hypelua.pm._lockfile import read_lock
from hypelua.pm._semver import max_satisfying, satisfies


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "Bad Name"}, "name"),
    ({"name": "ok", "version": "1.0"}, "version"),
    ({"name": "ok", "version": 1}, "version"),
    ({"main": "/abs.lua"}, "main"),
    ({"scripts": {"a": 1}}, "scripts"),
    ({"dependencies": ["x"]}, "dependencies"),
    ({"dependencies": {"x": "not a range!!"}}, "dependencies.x"),
    ({"devDependencies": {"UPPER": "^1"}}, "devDependencies.UPPER"),
])
def test_manifest_validation_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(ManifestError) as ei:
        validate(data)
    assert ei.value.details["field"] == field
    assert ei.value.code == "MANIFEST_INVALID"


def test_manifest_ok_and_missing(tmp_path: Path) -> None:
    m = validate({"name": "@scope/pkg", "version": "1.2.3-beta.1", "main": "init.lua", "scripts": {"t": "x"},
                  "dependencies": {"a": "^1.2", "b": "1.x || >=3 <4", "c": "*", "d": "latest"}})
    assert m.name == "@scope/pkg" and m.dependencies["b"] == "1.x || >=3 <4"
    with pytest.raises(ManifestError) as ei:
        load_manifest(tmp_path)
    assert ei.value.code == "MANIFEST_NOT_FOUND"
    (tmp_path / "hype.json").write_text("{oops")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path)


def test_npm_ranges() -> None:
    vs = ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "2.1.0-beta.1", "0.3.4"]
    assert max_satisfying(vs, "^1.0.0") == "1.10.1"
    assert max_satisfying(vs, "~1.2") == "1.2.0"
    assert max_satisfying(vs, ">=2") == "2.0.0"
    assert max_satisfying(vs, "^0.3.0") == "0.3.4"
    assert max_satisfying(vs, "1.x || 2.x") == "2.0.0"
    assert max_satisfying(vs, "^3") is None
    assert satisfies("1.2.0", "1.0.0 - 1.5.0") and not satisfies("1.10.1", "1.0.0 - 1.5.0")


def _pkg(root: Path, reg: FileRegistry, name: str, version: str, deps: dict[str, str] | None = None) -> None:
    d = root / f"{name.replace('/', '_')}-{version}"
    d.mkdir(parents=True)
    manifest = {"name": name, "version": version, "dependencies": deps or {}}
    (d / "hype.json").write_text(json.dumps(manifest))
    (d / "init.lua").write_text(f"return {{ name = '{name}', version = '{version}' }}")
    reg.publish(manifest, pack(d))


@pytest.fixture
def freg(tmp_path: Path) -> FileRegistry:
    reg = FileRegistry(tmp_path / "reg")
    src = tmp_path / "src"
    _pkg(src, reg, "a", "1.0.0", {"c": "^1"})
    _pkg(src, reg, "b", "1.0.0", {"c": "^2", "d": "^1"})
    _pkg(src, reg, "c", "1.0.0")
    _pkg(src, reg, "c", "1.5.0")
    _pkg(src, reg, "c", "2.0.0")
    _pkg(src, reg, "d", "1.0.0", {"c": "^2", "a": "^1"})  # cycle d -> a, and a's c conflicts below d
    _pkg(src, reg, "@s/e", "1.0.0", {"c": "~1.0.0"})
    _pkg(src, reg, "tool", "1.0.0", {"c": "^1"})
    return reg


def test_resolution_hoists_and_nests_on_conflict(freg: FileRegistry) -> None:
    tree = resolve_tree({"a": "^1", "b": "^1", "@s/e": "^1"}, {"tool": "^1"}, freg)
    got = {k: v["version"] for k, v in tree.items()}
    assert got == {
        "hype_modules/a": "1.0.0",
        "hype_modules/c": "1.0.0",            # hoisted: first seen (BFS, sorted) from @s/e's ~1.0.0; a's ^1 reuses it
        "hype_modules/b": "1.0.0",
        "hype_modules/b/hype_modules/c": "2.0.0",   # conflict with the hoisted c@1 -> nested
        "hype_modules/d": "1.0.0",
        "hype_modules/d/hype_modules/c": "2.0.0",
        "hype_modules/@s/e": "1.0.0",
        "hype_modules/tool": "1.0.0",
    }
    assert tree["hype_modules/tool"].get("dev") is True
    assert not tree["hype_modules/c"].get("dev")  # shared by prod and dev packages


def test_resolution_errors(freg: FileRegistry) -> None:
    with pytest.raises(ResolutionError) as ei:
        resolve_tree({"nope": "^1"}, {}, freg)
    assert ei.value.code == "PACKAGE_NOT_FOUND"
    with pytest.raises(ResolutionError) as ei:
        resolve_tree({"c": "^9"}, {}, freg)
    assert ei.value.code == "NO_MATCHING_VERSION" and "2.0.0" in ei.value.details["available"]


def test_install_scoped_nested_run_and_production(tmp_path: Path, freg: FileRegistry) -> None:
    from hypelua import Runtime

    app = tmp_path / "app"
    app.mkdir()
    (app / "hype.json").write_text(json.dumps({"name": "app", "dependencies": {"b": "^1", "@s/e": "^1"},
                                               "devDependencies": {"tool": "^1"}}))
    (app / "main.lua").write_text("return require('@s/e').name, require('b').name, require('c').version")
    res = install(app, registry=freg, production=True)
    assert "hype_modules/tool" not in res.packages
    assert not (app / "hype_modules" / "tool").exists()
    assert "hype_modules/tool" in read_lock(app)["packages"]  # the lock keeps dev packages
    with Runtime(":memory:") as rt:
        assert rt.execute_file(app / "main.lua") == ("@s/e", "b", "1.0.0")  # c hoisted from @s/e


def test_invalid_lockfile(tmp_path: Path, freg: FileRegistry) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "hype.json").write_text(json.dumps({"name": "app"}))
    (app / "hype-lock.json").write_text(json.dumps({"lockfileVersion": 1, "requires": {}, "packages": {
        "hype_modules/../../etc": {"version": "1", "resolved": "file:///x", "integrity": "sha512-x"}}}))
    with pytest.raises(LockfileError) as ei:
        install(app, registry=freg)
    assert ei.value.code == "LOCKFILE_INVALID"
    (app / "hype-lock.json").unlink()
    with pytest.raises(LockfileError):
        install(app, registry=freg, frozen=True)


def test_cli_init_install_uninstall_ls_run_script(tmp_path: Path, freg: FileRegistry,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "my App"
    app.mkdir()
    assert main(["init", "--dir", str(app)]) == 0
    m = json.loads((app / "hype.json").read_text())
    assert m["name"] == "my-app" and m["version"] == "1.0.0" and m["main"] == "init.lua"
    assert main(["init", "--dir", str(app)]) == 1
    reg = f"file:{freg.storage.root}"
    assert main(["install", "a", "c@2", "--dir", str(app), "--registry", reg]) == 0
    m = json.loads((app / "hype.json").read_text())
    assert m["dependencies"] == {"a": "^1.0.0", "c": "2"}
    assert (app / "hype_modules" / "a" / "hype_modules" / "c").is_dir()  # a wants c ^1 -> 1.5.0 nested
    assert main(["uninstall", "a", "--dir", str(app), "--registry", reg]) == 0
    assert not (app / "hype_modules" / "a").exists()
    assert set(read_lock(app)["packages"]) == {"hype_modules/c"}
    capsys.readouterr()
    assert main(["ls", "--dir", str(app)]) == 0
    assert "└─ c@2.0.0" in capsys.readouterr().out
    m["scripts"]["hello"] = f"{sys.executable} -c \"import sys; print('hi', *sys.argv[1:])\" && exit 3"
    (app / "hype.json").write_text(json.dumps(m))
    capfd_code = main(["run-script", "--dir", str(app), "hello", "x"])
    assert capfd_code == 3
    assert main(["run-script", "--dir", str(app), "nope"]) == 1
    assert "SCRIPT_NOT_FOUND" in capsys.readouterr().err
    assert main(["install", "zzz", "--dir", str(app), "--registry", reg]) == 1
    assert "PACKAGE_NOT_FOUND" in capsys.readouterr().err


def test_progress_display_renders(capsys: pytest.CaptureFixture[str]) -> None:
    from hypelua.pm._cli import _Progress

    p = _Progress(True)
    for i in range(3):
        p("fetch", i + 1, 3)
    p("extract", 3, 3)
    p.stop()
    _Progress(False)("fetch", 1, 1)  # disabled: no rich import needed


def test_hype_run_stays_lazy(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "hello.lua").write_text("print(require('./x'))")
    (tmp_path / "x.lua").write_text("return 'x'")
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "hypelua", "run", "hello.lua"],
                       cwd=tmp_path, capture_output=True, text=True, check=True)
    assert r.stdout == "x\n"
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    for heavy in ("rich", "starlette", "uvicorn", "httpx", "semantic_version", "tarfile", "hypelua.pm._install"):
        assert heavy not in imported, heavy
