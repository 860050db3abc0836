#!/usr/bin/env bash
# hypelua build entry point (idempotent).
#
#   ./build.sh                     deps + dist
#   ./build.sh deps                system packages (chromium, node, python3-venv, wrk, redis-server,
#                                  erlang-nox; as root),
#                                  .venv with `pip install -e '.[test]'`, npm packages
#   ./build.sh dist                Lua side module (wasm/build.sh all), wheels, JS bundles,
#                                  Pyodide files, playground  ->  dist/web/
#   ./build.sh pack                npm pack of the built dist/web  ->  dist/hypelua-<version>.tgz
#   ./build.sh playground [--port N] [...]   deps + dist, then `hype playground`
#   ./build.sh test [pytest args]  deps + dist, then the whole pytest suite
#
# Nothing is fetched from a CDN: Pyodide comes from npm (`pyodide`), micropip and
# packaging from PyPI, everything else is built here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

PYODIDE_VERSION="314.0.7"
PYODIDE_PYTHON="3.14"
# Wheels Pyodide's lock file lists that we serve ourselves (from PyPI).
PYPI_LOCK_WHEELS=("micropip==0.11.1" "packaging==26.1")
# MarkupSafe (LiveView escaping) has no pure-Python wheel on PyPI: build one from this sdist.
MARKUPSAFE_VERSION="3.0.3"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
DIST="$ROOT/dist/web"
CACHE="$ROOT/.deps"

log() { printf '\033[1;34m[build]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[build] error:\033[0m %s\n' "$*" >&2; exit 1; }
now_ns() { date +%s%N; }
since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f s", (b - a) / 1e9 }'; }
step() {
  # step LABEL CMD... : log LABEL, run CMD (set -e still applies), then log "LABEL (12.3 s)"
  local label="$1" t0
  shift
  log "$label"
  t0="$(now_ns)"
  "$@"
  log "$label ($(since "$t0"))"
}

APT_UPDATED=0
apt_install() {
  # apt_install PKG... : install Debian packages (root only), `apt-get update` once.
  if [[ "$(id -u)" != 0 ]]; then
    die "missing system packages: $* (run as root, or: sudo apt-get install -y $*)"
  fi
  if [[ "$APT_UPDATED" == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive step "apt-get update" apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive step "apt-get install $*" apt-get install -y -qq --no-install-recommends "$@"
}

npm_ci() {
  npm ci --no-audit --no-fund --loglevel=error && return
  log "npm ci failed; trying npm install"
  npm install --no-audit --no-fund --loglevel=error
}

cmd_deps() {
  local need=()
  [[ -x /usr/bin/chromium ]] || need+=(chromium)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  if command -v python3 >/dev/null 2>&1 && [[ ! -x "$PY" ]]; then
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
  fi
  command -v git >/dev/null 2>&1 || need+=(git)
  # server mode: wrk (bench/bench_http.py), redis-server (LiveView pub/sub across nodes), Erlang (actor anchors)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v erl >/dev/null 2>&1 || need+=(erlang-nox)
  if ((${#need[@]})); then
    apt_install "${need[@]}"
  fi
  # fonts make headless screenshots readable; optional
  if [[ "$(id -u)" == 0 && ! -d /usr/share/fonts/truetype/dejavu ]]; then
    apt_install fonts-dejavu-core || true
  fi

  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "python3 >= 3.11 is needed (found $(python3 -V 2>&1))"

  if [[ ! -x "$PY" ]]; then
    step "python3 -m venv .venv" python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.hypelua-deps" want
  want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]] || ! "$PY" -c 'import hypelua, pytest, playwright, uvloop, httptools, websockets, watchfiles, python_multipart' >/dev/null 2>&1; then
    "$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    step "pip install -e '.[test]'" "$PY" -m pip install -q -e '.[test]'
    echo "$want" >"$stamp"
  fi

  if [[ ! -d node_modules/pyodide || ! -d node_modules/esbuild || package.json -nt node_modules/.package-lock.json \
        || ( -f package-lock.json && package-lock.json -nt node_modules/.package-lock.json ) ]]; then
    if [[ -f package-lock.json ]]; then
      step "npm ci" npm_ci
    else
      step "npm install" npm install --no-audit --no-fund --loglevel=error
    fi
  fi
}

# Pure-Python runtime dependencies of hypelua as seen from Pyodide (markers
# evaluated for sys_platform == "emscripten"); printed one per line.
emscripten_requirements() {
  "$PY" - <<'EOF'
import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement

env = default_environment()
env.update(sys_platform="emscripten", platform_system="Emscripten", platform_machine="wasm32",
           python_version="3.14", python_full_version="3.14.2", implementation_name="cpython")
with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"].get("dependencies", [])
for dep in deps:
    req = Requirement(dep)
    if req.marker is None or req.marker.evaluate(env):
        req.marker = None
        print(req)
EOF
}

# A py3-none-any MarkupSafe wheel for Pyodide, built once into $CACHE/wheels from the sdist
# without its C speedups (markupsafe then escapes with its pure-Python _native module);
# checked to carry that tag, to import from the wheel alone and to escape. Prints its path.
pure_markupsafe_wheel() {
  local v="$MARKUPSAFE_VERSION" out="$CACHE/wheels"
  local whl="$out/markupsafe-$v-py3-none-any.whl"
  if [[ -f "$whl" ]]; then
    echo "$whl"
    return
  fi
  mkdir -p "$CACHE/sdist" "$out"
  if [[ ! -f "$CACHE/sdist/markupsafe-$v.tar.gz" ]]; then
    # the file itself (sha256 checked against PyPI), without pip preparing its metadata
    step "download markupsafe==$v sdist" "$PY" wasm/fetch_sdist.py markupsafe "$v" "$CACHE/sdist" >/dev/null
  fi
  local tmp
  tmp="$(mktemp -d)"
  tar -xzf "$CACHE/sdist/markupsafe-$v.tar.gz" -C "$tmp"
  local src="$tmp/markupsafe-$v"
  [[ -f "$src/src/markupsafe/_native.py" ]] || die "markupsafe $v has no _native.py (the pure-Python escape)"
  # its setup.py builds the _speedups C extension: build the package alone
  printf 'from setuptools import setup\n\nsetup(ext_modules=[])  # pure Python: markupsafe uses _native\n' \
    >"$src/setup.py"
  rm -f "$src/src/markupsafe/_speedups.c"
  step "building a pure-Python markupsafe-$v wheel" "$PY" -m pip wheel -q --no-deps -w "$tmp/out" "$src" >&2
  local built
  built="$(ls "$tmp"/out/*.whl)"
  "$PY" - "$built" <<'EOF' >&2 || die "the markupsafe wheel is not a working pure-Python wheel"
import sys, zipfile
whl = sys.argv[1]
assert whl.endswith("-py3-none-any.whl"), whl
with zipfile.ZipFile(whl) as z:
    names = z.namelist()
    meta = z.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode().splitlines()
assert "Tag: py3-none-any" in meta and "Root-Is-Purelib: true" in meta, meta
assert not [n for n in names if n.endswith((".so", ".pyd", ".c"))], names
sys.path.insert(0, whl)  # import from the wheel alone (zipimport), not the venv's markupsafe
import markupsafe
assert markupsafe.__file__.startswith(whl), markupsafe.__file__
try:
    import markupsafe._speedups  # noqa: F401
except ImportError:
    pass
else:
    raise AssertionError("markupsafe._speedups imported")
assert markupsafe.escape("<a href='x'>&") == "&lt;a href=&#39;x&#39;&gt;&amp;"
assert str(markupsafe.Markup("<b>%s</b>") % "<i>") == "<b>&lt;i&gt;</b>"
print("markupsafe wheel ok:", whl.rsplit("/", 1)[-1])
EOF
  mv "$built" "$whl"
  rm -rf "$tmp"
  echo "$whl"
}

# the hypelua wheel (py3-none-any, lua/hype and lua/types force-included) into $1;
# tests/test_wheel.py builds it the same way
build_hypelua_wheel() {
  if "$PY" -c 'import hatchling' >/dev/null 2>&1; then
    "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$1" .
  else
    "$PY" -m pip wheel -q --no-deps -w "$1" .
  fi
}

cmd_dist() {
  [[ -x "$PY" ]] || die ".venv is missing: run ./build.sh deps"
  [[ -d node_modules/pyodide ]] || die "node_modules/pyodide is missing: run ./build.sh deps"
  local have_pyodide
  have_pyodide="$(node -p 'require("./node_modules/pyodide/package.json").version')"
  [[ "$have_pyodide" == "$PYODIDE_VERSION" ]] || die "npm pyodide is $have_pyodide, need $PYODIDE_VERSION (run npm ci)"

  # 1. the Lua 5.4 side module (wheel) and native .so
  if [[ -f wasm/build.sh ]]; then
    step "wasm/build.sh all" bash wasm/build.sh all
  else
    log "warning: wasm/build.sh not found; using whatever is in build/wheels/"
  fi

  local stage="$ROOT/dist/.web.tmp"
  rm -rf "$stage"
  mkdir -p "$stage/pyodide" "$stage/wheels" "$CACHE/pypi"

  # 2. Pyodide core from npm
  log "pyodide $PYODIDE_VERSION core files"
  local f
  for f in pyodide.mjs pyodide.asm.mjs pyodide.asm.wasm python_stdlib.zip pyodide-lock.json pyodide.js; do
    [[ -f "node_modules/pyodide/$f" ]] || die "node_modules/pyodide/$f is missing"
    cp "node_modules/pyodide/$f" "$stage/pyodide/"
  done
  # (pyodide.asm.js in older releases; 314 ships pyodide.asm.mjs, copy it if present)
  [[ -f node_modules/pyodide/pyodide.asm.js ]] && cp node_modules/pyodide/pyodide.asm.js "$stage/pyodide/"

  # 3. micropip + packaging from PyPI, lock file rewritten to their sha256
  local spec
  for spec in "${PYPI_LOCK_WHEELS[@]}"; do
    local name="${spec%%==*}" version="${spec##*==}"
    if ! compgen -G "$CACHE/pypi/${name}-${version}-*.whl" >/dev/null; then
      step "pip download $spec" "$PY" -m pip download -q --python-version "$PYODIDE_PYTHON" --only-binary=:all: \
        --no-deps -d "$CACHE/pypi" "$spec"
    fi
    cp "$CACHE"/pypi/"${name}-${version}"-*.whl "$stage/pyodide/"
  done
  "$PY" - "$stage/pyodide" <<'EOF'
import hashlib, json, sys
from pathlib import Path

d = Path(sys.argv[1])
lock_path = d / "pyodide-lock.json"
lock = json.loads(lock_path.read_text())
for whl in sorted(d.glob("*.whl")):
    name = whl.name.split("-")[0].lower().replace("_", "-")
    pkg = lock["packages"].get(name)
    if pkg is None:
        sys.exit(f"{name} is not in pyodide-lock.json")
    pkg["file_name"] = whl.name
    pkg["sha256"] = hashlib.sha256(whl.read_bytes()).hexdigest()
lock_path.write_text(json.dumps(lock, separators=(",", ":")))
EOF

  # 4a. the LiveView connector bundle first: the hypelua wheel carries it (live.app serves it)
  log "esbuild hype-live.js"
  node_modules/.bin/esbuild web/src/entry-live.mjs --bundle --format=iife --target=es2022 --log-level=warning \
    --outfile="$stage/hype-live.js"
  mkdir -p py/hypelua/live/static
  cp "$stage/hype-live.js" py/hypelua/live/static/hype-live.js

  # 4. wheels: hypelua, its pure-Python deps, the Lua side module
  step "hypelua wheel" build_hypelua_wheel "$stage/wheels"
  local reqs markupsafe_whl
  markupsafe_whl="$(pure_markupsafe_wheel)"
  reqs="$(emscripten_requirements)"
  if [[ -n "$reqs" ]]; then
    log "pure-Python dependencies for Pyodide: $(echo "$reqs" | tr '\n' ' ')"
    # (--find-links: the markupsafe wheel built above)
    # shellcheck disable=SC2086
    echo "$reqs" | step "pip download (Pyodide's pure-Python wheels)" xargs "$PY" -m pip download -q --python-version "$PYODIDE_PYTHON" --only-binary=:all: \
        --platform any --implementation py --abi none --find-links "$(dirname "$markupsafe_whl")" \
        -d "$stage/wheels" \
      || die "a hypelua dependency has no pure-Python wheel; Pyodide needs one (or serve Pyodide's build of it)"
  fi
  local lua_whl
  lua_whl="$(ls -t build/wheels/hypelua_lua54-*-pyodide_*wasm32.whl 2>/dev/null | head -n1 || true)"
  if [[ -n "$lua_whl" ]]; then
    cp "$lua_whl" "$stage/wheels/"
  elif [[ -f wasm/build.sh ]]; then
    die "wasm/build.sh ran but build/wheels/hypelua_lua54-*.whl is missing"
  else
    log "warning: no Lua side-module wheel (build/wheels/hypelua_lua54-*.whl); the browser runtime will not start"
  fi

  # 5. manifest.json (read by worker.mjs)
  "$PY" - "$stage" "$PYODIDE_VERSION" <<'EOF'
import hashlib, json, sys, tomllib
from pathlib import Path

stage, pyodide_version = Path(sys.argv[1]), sys.argv[2]
version = tomllib.loads(Path("pyproject.toml").read_text())["project"]["version"]
wheels = sorted(p.name for p in (stage / "wheels").glob("*.whl"))
# the Lua side module first (Pyodide preloads its .so), hypelua last
wheels.sort(key=lambda n: (0 if n.startswith("hypelua_lua54") else 2 if n.startswith("hypelua-") else 1, n))
# the build id: what a memory snapshot depends on (the Python code in the wheels, Pyodide)
digest = hashlib.sha256(pyodide_version.encode())
for name in wheels:
    digest.update(name.encode() + b"\0" + (stage / "wheels" / name).read_bytes())
manifest = {"name": "hypelua", "version": version, "pyodide": pyodide_version, "build": digest.hexdigest()[:16],
            "wheels": wheels}
# site-packages as one image: the files of every wheel, concatenated (site-packages-<build>.bin)
# with their [path, offset, length] index (.json); the worker writes them straight into MEMFS
# (one fetch, no unzip in Python), which a snapshot restore needs again (MEMFS is not in it)
import zipfile
index, blob, offset = [], bytearray(), 0
for name in wheels:
    with zipfile.ZipFile(stage / "wheels" / name) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            data = zf.read(info)
            index.append([info.filename, offset, len(data)])
            blob += data
            offset += len(data)
image = f"site-packages-{manifest['build']}"
(stage / f"{image}.bin").write_bytes(bytes(blob))
(stage / f"{image}.json").write_text(json.dumps(index, separators=(",", ":")))
manifest["site_packages"] = image
(stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
EOF

  # 5b. the memory snapshot of instant start (SPEC 1.2): Pyodide under Node with the core
  # imported; recorded in manifest.json, restored by worker.mjs (a plain boot without it)
  if [[ "${HYPE_NO_SNAPSHOT:-}" == "1" ]]; then
    log "memory snapshot skipped (HYPE_NO_SNAPSHOT=1)"
  else
    log "memory snapshot"
    node web/tools/make-snapshot.mjs "$stage" >&2 || log "warning: no memory snapshot (the worker boots without one)"
  fi

  # 6. JS: IIFE (<script>), ESM (npm), module worker, service worker
  log "esbuild"
  local esbuild="node_modules/.bin/esbuild"
  "$esbuild" web/src/entry-iife.mjs --bundle --format=iife --target=es2022 --log-level=warning \
    --outfile="$stage/hypelua.js"
  "$esbuild" web/src/entry-esm.mjs --bundle --format=esm --target=es2022 --log-level=warning \
    --outfile="$stage/hypelua.mjs"
  "$esbuild" web/src/worker.mjs --bundle --format=esm --target=es2022 --log-level=warning \
    --outfile="$stage/worker.mjs"
  # the opt-in service worker of hype.routeFetches() (a classic script)
  "$esbuild" web/src/hype-sw.js --bundle --format=iife --target=es2022 --log-level=warning \
    --outfile="$stage/hype-sw.js"
  # the npm package's TypeScript declarations (package.json "types")
  cp web/types/hypelua.d.ts "$stage/hypelua.d.ts"

  # 6b. Dexie (devDependency) for bench/bench_browser_storage.py, served from dist/web/vendor/
  if [[ -f node_modules/dexie/dist/dexie.mjs ]]; then
    mkdir -p "$stage/vendor"
    "$esbuild" node_modules/dexie/dist/dexie.mjs --bundle --format=esm --target=es2022 --log-level=warning \
      --outfile="$stage/vendor/dexie.mjs"
  fi

  # 7. pages
  cp -r web/playground "$stage/playground"
  # the playground's editor: CodeMirror 6 (devDependencies) bundled over the copied source
  "$esbuild" web/playground/editor.mjs --bundle --format=esm --target=es2022 --minify --log-level=warning \
    --outfile="$stage/playground/editor.mjs"
  cp -r web/bare-pyodide "$stage/bare-pyodide"
  cp -r web/demo "$stage/demo"

  rm -rf "$DIST"
  mv "$stage" "$DIST"
  log "dist/web ready: $(du -sh "$DIST" | cut -f1), wheels: $(cd "$DIST/wheels" && ls | tr '\n' ' ')"
}

# dist/hypelua-<version>.tgz: the npm package (package.json "files": the bundles, worker,
# manifest, pyodide/, wheels/, .d.ts) from the dist/web/ built by `./build.sh dist`.
cmd_pack() {
  [[ -f "$DIST/manifest.json" && -f "$DIST/hypelua.d.ts" ]] || die "dist/web is not built: run ./build.sh dist"
  local out want have
  want="$(node -p 'require("./package.json").version')"
  have="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$DIST/manifest.json")"
  [[ "$want" == "$have" ]] || die "package.json version $want != dist/web/manifest.json (pyproject.toml) version $have"
  out="$(npm pack --silent --pack-destination "$ROOT/dist" | tail -n1)"
  [[ -f "$ROOT/dist/$out" ]] || die "npm pack made no dist/$out"
  log "dist/$out: $(du -h "$ROOT/dist/$out" | cut -f1) ($(tar -tzf "$ROOT/dist/$out" | wc -l) files)"
  echo "$ROOT/dist/$out"
}

cmd_playground() {
  cmd_deps
  cmd_dist
  if [[ -f py/hypelua/cli.py ]] && grep -q playground py/hypelua/cli.py; then
    exec "$VENV/bin/hype" playground "$@"
  fi
  exec "$PY" -m hypelua._devserver --root "$DIST" "$@"
}

cmd_test() {
  cmd_deps
  cmd_dist
  export HYPELUA_REQUIRE_DIST=1   # browser/node tests fail (not skip) when dist/web is unusable
  local rc=0
  "$VENV/bin/pytest" "$@" || rc=$?
  if [[ "$rc" == 5 ]]; then
    die "pytest collected no tests (exit code 5)"
  fi
  return "$rc"
}

main() {
  local sub="${1:-all}"
  [[ $# -gt 0 ]] && shift
  case "$sub" in
    all) step "deps" cmd_deps; step "dist" cmd_dist ;;
    deps) step "deps" cmd_deps ;;
    dist) step "dist" cmd_dist ;;
    pack) step "pack" cmd_pack ;;
    playground) cmd_playground "$@" ;;
    test) cmd_test "$@" ;;
    -h|--help|help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown subcommand '$sub' (deps, dist, pack, playground, test)" ;;
  esac
}

main "$@"
