#!/usr/bin/env bash
# Builds reap (Release) and runs its safe default: a dry run of both phases on this machine
# (orphaned processes of the current repo and /dev/shm segments of the current user).
# Nothing is signalled or deleted. Extra arguments are passed to reap.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DREAP_BENCH=OFF >/dev/null
cmake --build build-release -j"$(nproc)" --target reap
set +e
build-release/bin/reap --dry-run --shm "$@"
rc=$?
echo "reap exited with $rc (0: nothing left behind; 1: something needed SIGKILL or failed)" >&2
exit "$rc"
