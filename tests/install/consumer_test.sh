#!/usr/bin/env bash
# A separate project finds the installed package (find_package(reap) + reap::core) and,
# separately, builds through pkg-config; both programs run.
. "$(dirname "$0")/common.sh"
install_prefix
cmake -S "$SRC/tests/install/consumer" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" \
  >"$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log" >&2; fail "consumer configure"; }
cmake --build "$WORK/consumer" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "consumer build"; }
"$WORK/consumer/consumer" || fail "the consumer built with CMake does not run"
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
# shellcheck disable=SC2046
g++ -std=c++20 -o "$WORK/pc-consumer" "$SRC/tests/install/consumer/main.cpp" \
  $(pkg-config --cflags --libs reap) || fail "the pkg-config build"
"$WORK/pc-consumer" || fail "the consumer built with pkg-config does not run"
