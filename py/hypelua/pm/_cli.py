"""``hype`` subcommands of the package manager.

``init``, ``install [PKG[@RANGE]...]``, ``uninstall PKG...``, ``ls``, ``publish``,
``run-script NAME`` and ``registry serve``.  Heavy imports (httpx, rich,
semantic_version, starlette, uvicorn) happen inside the command functions.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .._errors import HypeError


def _fail(exc: HypeError) -> int:
    from ..cli import _print_error

    _print_error(exc)
    return 1


def _registry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", default=None,
                   help="registry URL (http(s)://... or file:DIR); default $HYPE_REGISTRY or file:$HYPE_HOME/registry")


class _Progress:
    """A rich progress bar on stderr for long installs (only when stderr is a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                                transient=True, console=_console())
            self.bar.start()
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(phase, total=total)
        self.bar.update(self.tasks[phase], completed=done, total=total)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _cmd_init(args: argparse.Namespace) -> int:
    from ._manifest import MANIFEST, check_name, save_manifest

    project = Path(args.dir).resolve()
    if (project / MANIFEST).exists() and not args.force:
        return _fail(HypeError(f"{project / MANIFEST} already exists", code="MANIFEST_EXISTS",
                               suggestion="Use --force to overwrite it."))
    import re

    name = args.name or re.sub(r"[^a-z0-9._-]+", "-", project.name.lower()).strip("-._") or "app"
    try:
        check_name(name)
    except HypeError as exc:
        return _fail(exc)
    template = getattr(args, "template", None)
    main = args.main if template is None or args.main != "init.lua" else "app.lua"
    scripts = {"start": f"hype run {main}", "test": "hype test"}
    if template == "live":
        scripts = {"start": "hype serve app.lua", "dev": "hype serve app.lua --dev --reload", "test": "hype test"}
    raw = {"name": name, "version": "1.0.0", "main": main, "scripts": scripts, "dependencies": {},
           "devDependencies": {}}
    project.mkdir(parents=True, exist_ok=True)
    if template is not None:
        written = _copy_template(template, project, args.force)
        if isinstance(written, HypeError):
            return _fail(written)
        for rel in written:
            print(f"wrote {project / rel}")
    path = save_manifest(project, raw)
    print(f"wrote {path}")
    luarc = _write_luarc(project, args.force)
    if luarc is not None:
        print(f"wrote {luarc}")
    if template == "live":
        print("next: hype serve app.lua --dev   (then open http://127.0.0.1:3000)")
    return 0


#: globals hypelua defines (declared in lua/types/globals.lua; listed for LuaLS set-ups
#: without the library too)
LUA_GLOBALS = (
    "storage", "Memory", "Promise", "async", "await", "setTimeout", "setInterval", "clearTimeout",
    "clearInterval", "queueMicrotask",
    # spec files (`hype test`)
    "describe", "context", "insulate", "expose", "it", "test", "spec", "xit", "xdescribe", "pending",
    "before_each", "beforeEach", "after_each", "afterEach", "setup", "before_all", "beforeAll", "strict_setup",
    "lazy_setup", "teardown", "after_all", "afterAll", "strict_teardown", "lazy_teardown", "finally",
    "randomize", "expect", "spy", "stub", "mock", "match",
)


def _write_luarc(project: Path, force: bool) -> Path | None:
    """Write ``.luarc.json`` for the Lua language server (LuaLS): Lua 5.4, this installation's
    annotations (``workspace.library``, resolved now: the installed package's ``lua/types``)
    and hypelua's globals.  An existing file is kept unless ``force``; returns the path written."""
    import json

    from .._runtime import types_dir

    path = project / ".luarc.json"
    if path.exists() and not force:
        return None
    config = {
        "$schema": "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
        "runtime": {"version": "Lua 5.4"},
        "workspace": {"library": [os.path.realpath(types_dir())], "checkThirdParty": False},
        "diagnostics": {"globals": list(LUA_GLOBALS)},
    }
    path.write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    return path


#: ``hype init --template NAME`` copies ``templates/NAME/`` (shipped with the package)
TEMPLATES = ("live",)


def _copy_template(template: str, project: Path, force: bool) -> list[str] | HypeError:
    """Copy the files of ``template`` into ``project``; refuse to overwrite unless ``force``."""
    root = Path(__file__).resolve().parent / "templates" / template
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rels = [p.relative_to(root).as_posix() for p in files]
    clashes = [r for r in rels if (project / r).exists()]
    if clashes and not force:
        return HypeError(f"{len(clashes)} file(s) of the template already exist: {', '.join(clashes[:5])}",
                         code="FILE_EXISTS", suggestion="Use an empty directory, or --force to overwrite them.")
    for src, rel in zip(files, rels, strict=True):
        dest = project / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(src.read_bytes())
    gitignore = project / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("hype_modules/\n.hype/\nhype.db\nhype.db-*\n")
        rels.append(".gitignore")
    return rels


def _do_install(args: argparse.Namespace, project: Path, manifest_raw: dict[str, Any] | None = None) -> int:
    from ._install import install

    progress = _Progress(sys.stderr.isatty() and not args.silent)
    try:
        res = install(project, registry=args.registry, frozen=args.frozen_lockfile,
                      production=args.production, progress=progress, manifest_raw=manifest_raw)
    finally:
        progress.stop()
    if not res.changed:
        print(f"up to date: {len(res.packages)} packages")
    else:
        print(f"installed {len(res.packages)} packages ({res.fetched} downloaded, {res.cached} from cache)")
    return 0


def _cmd_install(args: argparse.Namespace) -> int:
    project = Path(args.dir)
    try:
        if args.packages:
            if args.frozen_lockfile:
                raise HypeError("cannot add packages with --frozen-lockfile", code="LOCKFILE_OUT_OF_DATE")
            from ._install import plan_add

            added, raw = plan_add(project, args.packages, dev=args.save_dev, registry=args.registry)
            status = _do_install(args, project, raw)  # hype.json is written only after a successful install
            for n, r in added.items():
                print(f"+ {n}@{r}")
            return status
        return _do_install(args, project)
    except HypeError as exc:
        return _fail(exc)


def _cmd_uninstall(args: argparse.Namespace) -> int:
    from ._install import plan_remove

    try:
        removed, raw = plan_remove(args.dir, args.packages)
        args.frozen_lockfile = False
        args.production = False
        status = _do_install(args, Path(args.dir), raw)
        for n in removed:
            print(f"- {n}")
        return status
    except HypeError as exc:
        return _fail(exc)


def _cmd_ls(args: argparse.Namespace) -> int:
    from ._install import tree_lines

    try:
        print("\n".join(tree_lines(args.dir)))
    except HypeError as exc:
        return _fail(exc)
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from ._manifest import load_manifest
    from ._registry import open_registry
    from ._tarball import integrity, pack

    try:
        m = load_manifest(args.dir)
        m.require_publishable()
        data = pack(args.dir)
        reg = open_registry(args.registry, args.token)
        reg.publish(m.raw, data)
    except HypeError as exc:
        return _fail(exc)
    print(f"published {m.name}@{m.version} to {reg.url} ({len(data)} bytes, {integrity(data)[:24]}...)")
    return 0


def _cmd_run_script(args: argparse.Namespace) -> int:
    import subprocess

    from ._manifest import load_manifest

    try:
        m = load_manifest(args.dir)
        if args.name not in m.scripts:
            raise HypeError(f"no script {args.name!r} in hype.json", code="SCRIPT_NOT_FOUND",
                            details={"available": sorted(m.scripts)},
                            suggestion="Scripts: " + (", ".join(sorted(m.scripts)) or "(none)"))
    except HypeError as exc:
        return _fail(exc)
    import shlex

    cmd = m.scripts[args.name]
    if args.args:
        cmd += " " + " ".join(shlex.quote(a) for a in args.args)
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["HYPE_PACKAGE_NAME"] = m.name or ""
    print(f"> {cmd}", file=sys.stderr)
    return subprocess.call(cmd, shell=True, cwd=str(Path(args.dir).resolve()), env=env)


def _cmd_registry_serve(args: argparse.Namespace) -> int:
    from ._server import serve

    token = args.token if args.token is not None else os.environ.get("HYPE_REGISTRY_TOKEN")
    print(f"hype registry on http://{args.host}:{args.port} (storage {Path(args.storage).resolve()})",
          file=sys.stderr)
    serve(args.storage, host=args.host, port=args.port, token=token,
          allow_anonymous_publish=args.allow_anonymous_publish, cors_origins=args.cors or None)
    return 0


def register(subparsers: Any) -> None:
    """Add the package-manager subcommands to the ``hype`` argparse sub-parsers."""
    p = subparsers.add_parser("init", help="create hype.json")
    p.add_argument("--name", default=None)
    p.add_argument("--main", default="init.lua")
    p.add_argument("--force", action="store_true")
    p.add_argument("--template", choices=TEMPLATES, default=None,
                   help="start from a template: live (a LiveView app: counter, todo form, storage table)")
    p.add_argument("-y", "--yes", action="store_true", help="accepted for npm compatibility (never asks)")
    p.add_argument("--dir", default=".", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_init)

    for name, aliases in (("install", ["i", "add"]), ("uninstall", ["remove", "rm"])):
        p = subparsers.add_parser(name, aliases=aliases,
                                  help="install dependencies (or add PKG[@RANGE])" if name == "install"
                                  else "remove dependencies")
        p.add_argument("packages", nargs="*" if name == "install" else "+", metavar="PKG[@RANGE]")
        _registry_args(p)
        p.add_argument("--silent", action="store_true", help="no progress display")
        p.add_argument("--dir", default=".", help="project directory (default: .)")
        if name == "install":
            p.add_argument("--frozen-lockfile", "--ci", action="store_true",
                           help="fail if hype-lock.json is missing or does not match hype.json")
            p.add_argument("--production", action="store_true", help="skip devDependencies")
            p.add_argument("-D", "--save-dev", action="store_true", help="add to devDependencies")
            p.set_defaults(func=_cmd_install)
        else:
            p.set_defaults(func=_cmd_uninstall)

    p = subparsers.add_parser("ls", aliases=["list"], help="show the installed dependency tree")
    p.add_argument("--dir", default=".")
    p.set_defaults(func=_cmd_ls)

    p = subparsers.add_parser("publish", help="publish this package to a registry")
    _registry_args(p)
    p.add_argument("--token", default=None, help="bearer token (default $HYPE_TOKEN)")
    p.add_argument("--dir", default=".")
    p.set_defaults(func=_cmd_publish)

    p = subparsers.add_parser("run-script", help="run a script from hype.json 'scripts'")
    p.add_argument("name")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.add_argument("--dir", default=".")
    p.set_defaults(func=_cmd_run_script)

    p = subparsers.add_parser("registry", help="package registry server")
    rsub = p.add_subparsers(dest="registry_command", required=True)
    s = rsub.add_parser("serve", help="serve a registry (Starlette/uvicorn)")
    s.add_argument("--storage", required=True, help="directory holding the packages")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=4873)
    s.add_argument("--token", default=None, help="bearer token for publishing (default $HYPE_REGISTRY_TOKEN)")
    s.add_argument("--allow-anonymous-publish", action="store_true")
    s.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                   help="allow web pages of ORIGIN ('*': any) to read the registry (browser installs); repeatable")
    s.set_defaults(func=_cmd_registry_serve)
