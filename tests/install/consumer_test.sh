#!/usr/bin/env bash
# A separate project finds the installed package (find_package(reap) + reap::core, including
# a header through <reap/core/...>, and a test program with the reap::gtest listener) and,
# separately, builds through pkg-config; the programs run. Every installed public header
# compiles from the prefix alone (so none of them includes a header that is not installed), in
# both include forms, and the installed CMake package names no CLI dependency (CLI11,
# nlohmann_json) and no CLI target.
. "$(dirname "$0")/common.sh"
install_prefix
cmake -S "$SRC/tests/install/consumer" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$PREFIX" \
  >"$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log" >&2; fail "consumer configure"; }
cmake --build "$WORK/consumer" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "consumer build"; }
"$WORK/consumer/consumer" || fail "the consumer built with CMake does not run"
if [[ -e $PREFIX/include/reap/gtest.hpp ]]; then  # reap was built with GoogleTest
  [[ -x $WORK/consumer/gtest_consumer ]] || fail "no reap::gtest consumer was built"
  "$WORK/consumer/gtest_consumer" >"$WORK/gtest.log" 2>&1 ||
    { cat "$WORK/gtest.log" >&2; fail "the reap::gtest consumer fails"; }
fi
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
# shellcheck disable=SC2046
g++ -std=c++20 -o "$WORK/pc-consumer" "$SRC/tests/install/consumer/main.cpp" \
  $(pkg-config --cflags --libs reap) || fail "the pkg-config build"
"$WORK/pc-consumer" || fail "the consumer built with pkg-config does not run"

# One translation unit that includes every installed header, as <reap/...> and as "dir/...".
cd "$PREFIX/include/reap"
headers=$(find core os util -name '*.hpp' | sort)
[[ -n $headers ]] || fail "no headers under $PREFIX/include/reap"
for h in $headers; do echo "#include <reap/$h>"; echo "#include \"$h\""; done >"$WORK/all.cpp"
echo 'int main() {}' >>"$WORK/all.cpp"
g++ -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I"$PREFIX/include/reap" -I"$PREFIX/include" \
  "$WORK/all.cpp" 2>"$WORK/all.err" ||
  { cat "$WORK/all.err" >&2; fail "the installed headers do not compile alone"; }
cd "$PREFIX"
for word in CLI11 nlohmann 'reap::cli' reap_cli; do
  ! grep -rq -- "$word" lib/cmake/reap || fail "the installed CMake package mentions $word"
done
echo "consumer ok ($(wc -w <<<"$headers") headers)"
