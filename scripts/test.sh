#!/usr/bin/env bash
# Builds and runs every test: unit, end-to-end and stress tests with warnings as errors,
# the same suite under ASan+UBSan, and a short libFuzzer smoke run of the /proc parsers.
# Needs root (tests switch uids with setpriv and use private namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)

echo "== build (warnings as errors) and test" >&2
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREAP_WERROR=ON >/dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test --output-on-failure -j"$jobs"

echo "== ASan+UBSan build and test" >&2
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DREAP_WERROR=ON -DREAP_SANITIZE=ON \
  -DREAP_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzz smoke" >&2
scripts/fuzz-smoke.sh
