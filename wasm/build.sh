#!/usr/bin/env bash
# wasm/build.sh [native|wasm|all]  -- build the Lua 5.4 shared library used by
# the ctypes back-end (py/hypelua/lua/_ctypes.py).  Idempotent; everything it
# fetches or produces lives in the git-ignored build/ directory:
#
#   build/deps/lupa-<v>/third-party/lua54   Lua 5.4.8 sources from lupa's sdist
#                                          (same release as the native lupa)
#   build/deps/emscripten/...              emscripten 3.1.6 libc headers (Debian)
#   build/native/libhypelua_lua54.so       gcc build, for native ctypes tests
#   build/native/hype_preempt_lupa.so      hype.preempt for the lupa back-end (lupa's Lua
#                                          symbols left undefined; loaded with package.loadlib)
#   build/wasm/libhypelua_lua54.so         Pyodide side module (wasm32)
#   build/wheels/hypelua_lua54-5.4.8-cp314-cp314-pyodide_2026_0_wasm32.whl
#
# Environment: PYTHON (default: <repo>/.venv/bin/python, else python3),
# CC (native compiler, default gcc).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD="$ROOT/build"
DEPS="$BUILD/deps"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
CC="${CC:-gcc}"
LUA_VERSION=5.4.8
TARGET="${1:-all}"

log() { echo "[wasm/build.sh] $*" >&2; }

lupa_version() {
  "$PYTHON" -c 'import importlib.metadata as m; print(m.version("lupa"))' 2>/dev/null || echo 2.8
}

# Lua sources: third-party/lua54 from lupa's PyPI sdist
fetch_lua() {
  local v; v="$(lupa_version)"
  LUA_SRC="$DEPS/lupa-$v/third-party/lua54"
  if [[ -f "$LUA_SRC/onelua.c" ]]; then return; fi
  mkdir -p "$DEPS"
  local tgz="$DEPS/lupa-$v.tar.gz"
  if [[ ! -f "$tgz" ]]; then
    # the sdist file straight from PyPI (sha256 checked against PyPI's JSON API): `pip download
    # --no-binary` would also build its metadata (Cython in an isolated env, ~85 s)
    log "downloading lupa==$v sdist"
    tgz="$("$PYTHON" "$HERE/fetch_sdist.py" lupa "$v" "$DEPS")"
  fi
  tar -xzf "$tgz" -C "$DEPS" "lupa-$v/third-party/lua54"
  grep -q "LUA_VERSION_RELEASE	\"8\"" "$LUA_SRC/lua.h" || log "warning: Lua sources are not 5.4.8"
}

# emscripten libc headers only (no emscripten LLVM): apt-get download + extract
fetch_headers() {
  SYSROOT_INC="$DEPS/emscripten/usr/share/emscripten/cache/sysroot/include"
  if [[ -f "$SYSROOT_INC/stdio.h" ]]; then return; fi
  mkdir -p "$DEPS/emscripten"
  local deb; deb="$(ls "$DEPS"/emscripten_*.deb 2>/dev/null | head -n1 || true)"
  if [[ -z "$deb" ]]; then
    log "downloading the Debian emscripten package (headers only are used)"
    (cd "$DEPS" && apt-get download emscripten)
    deb="$(ls "$DEPS"/emscripten_*.deb | head -n1)"
  else
    log "using cached $(basename "$deb")"
  fi
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$DEPS/emscripten" \
    --wildcards './usr/share/emscripten/cache/sysroot/include/*'
}

build_native() {
  fetch_lua
  local out="$BUILD/native"
  mkdir -p "$out"
  log "native: $CC -> $out/libhypelua_lua54.so"
  "$CC" -O2 -fPIC -shared -std=gnu99 -Wall -Wextra -Wno-unused-parameter \
    -DLUA_USE_POSIX -DMAKE_LIB -I"$LUA_SRC" -I"$HERE" \
    -Wl,-Bsymbolic -pthread \
    -o "$out/libhypelua_lua54.so.tmp" \
    "$LUA_SRC/onelua.c" "$HERE/hypelua_lua.c" "$HERE/hype_preempt.c" -lm
  mv "$out/libhypelua_lua54.so.tmp" "$out/libhypelua_lua54.so"
  # -z nodelete: its ticker thread outlives the Lua states that loaded it
  log "native: $CC -> $out/hype_preempt_lupa.so"
  "$CC" -O2 -fPIC -shared -std=gnu99 -Wall -Wextra -Wno-unused-parameter -pthread \
    -I"$LUA_SRC" -Wl,-z,nodelete \
    -o "$out/hype_preempt_lupa.so.tmp" "$HERE/hype_preempt.c"
  mv "$out/hype_preempt_lupa.so.tmp" "$out/hype_preempt_lupa.so"
}

WASM_FLAGS=(-target wasm32-emscripten -mcpu=mvp -mmutable-globals -msign-ext -mbulk-memory
  -mnontrapping-fptoint -fPIC -fvisibility=default -mexception-handling
  -mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=true)

build_wasm() {
  fetch_lua
  fetch_headers
  local out="$BUILD/wasm"
  local obj="$out/obj"
  mkdir -p "$obj"
  local cc=("$PYTHON" -m ziglang cc "${WASM_FLAGS[@]}" -O2 -nostdinc -isystem "$SYSROOT_INC"
            -D__EMSCRIPTEN__ -I"$LUA_SRC" -I"$HERE")
  log "wasm: compiling onelua.c (+ time64 prelude)"
  "${cc[@]}" -DMAKE_LIB -include "$HERE/time64_prelude.h" -c "$LUA_SRC/onelua.c" -o "$obj/onelua.o"
  log "wasm: compiling hypelua_lua.c, hype_preempt.c, time_shim.c"
  "${cc[@]}" -include "$HERE/time64_prelude.h" -c "$HERE/hypelua_lua.c" -o "$obj/hypelua_lua.o"
  "${cc[@]}" -include "$HERE/time64_prelude.h" -c "$HERE/hype_preempt.c" -o "$obj/hype_preempt.o"
  "${cc[@]}" -c "$HERE/time_shim.c" -o "$obj/time_shim.o"
  log "wasm: linking side module"
  "$PYTHON" -m ziglang wasm-ld -shared --experimental-pic --export-dynamic --no-entry --strip-debug \
    --unresolved-symbols=import-dynamic \
    -o "$out/libhypelua_lua54.so.tmp" "$obj/onelua.o" "$obj/hypelua_lua.o" "$obj/hype_preempt.o" "$obj/time_shim.o"
  mv "$out/libhypelua_lua54.so.tmp" "$out/libhypelua_lua54.so"
  log "wasm: packaging wheel"
  "$PYTHON" "$HERE/make_wheel.py" --so "$out/libhypelua_lua54.so" --version "$LUA_VERSION" \
    --out "$BUILD/wheels"
}

case "$TARGET" in
  native) build_native ;;
  wasm) build_wasm ;;
  all) build_native; build_wasm ;;
  *) echo "usage: $0 [native|wasm|all]" >&2; exit 2 ;;
esac
log "done ($TARGET)"
