#!/usr/bin/env bash
# Builds and runs every test: unit, end-to-end, stress and install/packaging tests (install to
# temp prefixes, consumer build, man, completions, systemd units, .deb) with warnings as errors,
# the same suite under ASan+UBSan, the e2e and stress suites against a ThreadSanitizer
# build of reap, and a short libFuzzer smoke run of the /proc parsers.
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
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE install

echo "== ThreadSanitizer: the e2e and stress suites against a TSan build of reap" >&2
# reap's scan and sweep use threads; the test programs fork, so only reap is built with TSan
# (a data race makes it exit 66, which fails the test that ran it).
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREAP_WERROR=ON \
  -DREAP_SANITIZE_THREAD=ON -DREAP_BENCH=OFF -DBUILD_TESTING=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target reap
TSAN_OPTIONS="halt_on_error=1 exitcode=66" REAP_STRESS_RSS_FACTOR=8 \
  REAP_E2E_REAP_BIN="$PWD/build-tsan/bin/reap" REAP_BIN="$PWD/build-tsan/bin/reap" \
  ctest --test-dir build-test --output-on-failure -j"$jobs" -R '^(e2e|e2e-user|e2e-late|stress)\.'

echo "== fuzz smoke" >&2
scripts/fuzz-smoke.sh
