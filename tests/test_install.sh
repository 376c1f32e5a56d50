#!/usr/bin/env bash
# `cmake --install` of the build, then a user's program built against the installed
# library three ways — pkg-config (shared), CMake's r50::r50 (shared) and
# r50::r50_static — each run, printing the version, the engine and pool5's shape.
# usage: test_install.sh BUILD_DIR SOURCE_DIR EXTRA_C_FLAGS
set -u
build=$1 src=$2 cflags=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }
prefix=$tmp/prefix
libs=("$prefix"/lib*/)
lib=${libs[0]}
[[ -f $prefix/include/r50.h ]] || fail "include/r50.h not installed"
[[ -f $lib/libr50.a ]] || fail "libr50.a not installed"
so=$(readelf -d "$lib/libr50.so" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $so == libr50.so.0 ]] || fail "SONAME is '$so', want libr50.so.0"
# the shared library exports the API and nothing else
others=$(nm -D --defined-only "$lib/libr50.so" | awk '$2 ~ /[TDBR]/ {print $3}' |
         grep -v '^r50_' | grep -v '^_' || true)
[[ -z $others ]] || fail "libr50.so exports symbols outside the API: $(echo "$others" | tr '\n' ' ' | head -c 300)"
nm -D --defined-only "$lib/libr50.so" | grep -q ' T r50_forward$' || fail "r50_forward not exported"

want="pool5 (1, 2048), 25557096 parameters"
export PKG_CONFIG_PATH=$lib/pkgconfig LD_LIBRARY_PATH=$lib
# shellcheck disable=SC2046,SC2086
if cc $cflags "$src/tests/install/hello.c" -o "$tmp/hello_pc" $(pkg-config --cflags --libs r50) &&
  out=$("$tmp/hello_pc") && [[ $out == *"$want"* ]]; then
  echo "pkg-config: $out"
else
  fail "pkg-config build or run: ${out:-}"
fi

if ! cmake -S "$src/tests/install" -B "$tmp/user" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$cflags" >"$tmp/user.log" 2>&1 ||
  ! cmake --build "$tmp/user" >>"$tmp/user.log" 2>&1; then
  cat "$tmp/user.log"
  fail "CMake build"
fi
for t in hello_shared hello_static; do
  if out=$("$tmp/user/$t") && [[ $out == *"$want"* ]]; then
    echo "CMake $t: $out"
  else
    fail "CMake $t: ${out:-}"
  fi
done
version=$(pkg-config --modversion r50)
[[ $out == "libr50 $version,"* ]] || fail "the program's r50_version() is not pkg-config's $version"
if ((fails)); then
  echo "test_install: $fails failure(s)"; exit 1
fi
echo "test_install: all checks passed"
