#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, ASan and UBSan in build-fuzz/, and runs
# each for a few seconds over its seed corpus through CTest (tests named fuzz.<name>).
#   scripts/fuzz-smoke.sh                 # smoke run, about 20 s on 2 cores after the build
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh # longer run per target
# Installs clang-14 and its libFuzzer runtime (libclang-rt-14-dev) with apt-get if missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-4}
jobs=${JOBS:-$(nproc)}

have_libfuzzer() {
  command -v clang++ >/dev/null 2>&1 &&
    echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
      clang++ -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
}

if ! have_libfuzzer; then
  echo "fuzz-smoke: installing clang and libFuzzer (apt-get)" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang-14 libclang-rt-14-dev \
    clang >/dev/null
  have_libfuzzer || { echo "fuzz-smoke: clang++ with libFuzzer still unavailable" >&2; exit 1; }
fi

# BUILD_TESTING stays off: the fuzz CTest tests register on their own (fuzz/CMakeLists.txt
# enables testing in fuzz/), and the unit/e2e trees (GoogleTest) are not needed here.
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DREAP_FUZZ=ON -DREAP_SANITIZE=ON -DREAP_BENCH=OFF -DBUILD_TESTING=OFF \
  -DREAP_FUZZ_SMOKE_SECONDS="$seconds" >/dev/null
cmake --build "$build" --target reap_fuzz_all -j "$jobs"

start=$(date +%s)
ctest --test-dir "$build/fuzz" -R '^fuzz\.' -j "$jobs" --output-on-failure
echo "fuzz-smoke: fuzzed ${seconds}s per target in $(($(date +%s) - start))s" \
  "(crashes would be in $build/fuzz/work/<name>/artifacts/)"
