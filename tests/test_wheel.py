"""The hypelua wheel on its own: built as ./build.sh dist builds it, installed with pip into a
fresh venv (no --system-site-packages, no checkout on sys.path), `hype` works with the shipped
Lua library (hype.actor, hype.json), external-table storage and the LuaLS annotations.

The wheel is py3-none-any (the same file is served to Pyodide), so it carries no native code:
the lupa back-end's preemption module (build/native/hype_preempt_lupa.so) is not in it and a
pip-installed runtime runs without `hype.preempt` (see README, "Installing the wheel").
Takes ~20-60 s (venv + dependency install from the pip indexes/caches this machine has)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel

HELLO = """
local actor = require("hype.actor")
local json = require("hype.json")
local pid = actor.spawn(function(parent)
  local msg = actor.receive()
  actor.send(parent, { "pong", msg })
end, actor.self())
actor.send(pid, "ping")
local reply = actor.receive(nil, 5000)
Memory.count = (Memory.count or 0) + 1
Memory.greet = function(name) return "hello, " .. name end
print(json.encode({ reply = reply, count = Memory.count, preempt = package.loaded["hype.preempt"] ~= nil }))
"""

AGAIN = 'print(Memory.greet("wheel"), Memory.count)'


def build_wheel(out: Path) -> Path:
    """`build_hypelua_wheel` of build.sh: pip wheel --no-deps (without build isolation when
    hatchling is importable)."""
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)]
    try:
        import hatchling  # noqa: F401
    except ImportError:
        pass
    else:
        cmd.insert(5, "--no-build-isolation")
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = out.glob("hypelua-*.whl")
    return wheel


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HYPE_PREEMPT_LIBRARY", "HYPE_LUA_LIBRARY")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "dist")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=clean_env())
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=root,
                         capture_output=True, text=True, timeout=600, env=clean_env())
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return wheel, venv


def test_wheel_contents(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("hype/actor.lua", "hype/actor/server.lua", "hype/json.lua", "hype/loop.lua",
                "types/globals.lua", "types/hype/actor.lua"):
        assert f"hypelua/_lua/{rel}" in names, rel
    assert "hypelua/cli.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]


def test_hype_runs_from_the_venv(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed
    hype = str(venv / "bin" / "hype")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = clean_env(HOME=str(tmp_path))

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import hypelua, sys; print(hypelua.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the checkout

    help_ = subprocess.run([hype, "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0, help_.stderr
    assert "run" in help_.stdout and "init" in help_.stdout

    (work / "hello.lua").write_text(HELLO)
    out = subprocess.run([hype, "run", "hello.lua"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"reply": ["pong", "ping"], "count": 1, "preempt": False}
    assert (work / "hype.db").is_file()

    (work / "again.lua").write_text(AGAIN)
    out = subprocess.run([hype, "run", "again.lua"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "hello, wheel\t1\n"


def test_init_points_luals_at_the_installed_types(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed
    out = subprocess.run([str(venv / "bin" / "hype"), "init"], cwd=tmp_path, env=clean_env(HOME=str(tmp_path)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (library,) = json.loads((tmp_path / ".luarc.json").read_text())["workspace"]["library"]
    lib = Path(library)
    assert lib.is_relative_to(venv.resolve()), lib
    assert (lib / "globals.lua").is_file() and (lib / "hype" / "actor.lua").is_file()
