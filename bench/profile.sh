#!/usr/bin/env bash
# bench/profile.sh: where reap's shm scan spends its time, against the floor.
#
#   bench/profile.sh [HOLDERS [SEGS [UNHELD]]]     (default 1000 10 10000; needs build-bench/)
#
# On one population (bench_workload shm, segments owned by uid 65534 in a private
# mktemp -d /dev/shm/reap-bench.* directory) prints, for `reap -n --shm-only --json`, the
# same with human output, and bench_floor: syscall counts (strace -c -f), wall/CPU/peak RSS
# (bench_timeit, median of 5) and the top symbols of a perf profile (cpu-clock, so it works
# in VMs without hardware counters). Output also goes to build-bench/profile/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REAP_BENCH_BUILD:-$ROOT/build-bench}
BIN=$BUILD/bin
HOLDERS=${1:-1000} SEGS=${2:-10} UNHELD=${3:-10000}
OUT=$BUILD/profile
mkdir -p "$OUT"
for t in reap bench_workload bench_floor bench_timeit; do
  [[ -x $BIN/$t ]] || { echo "profile.sh: build first (bench/run.sh): missing $BIN/$t" >&2; exit 2; }
done

GEN="" DIR=""
cleanup() {
  trap - EXIT INT TERM HUP
  if [[ -n $GEN ]] && [[ $(awk '{print $4}' "/proc/$GEN/stat" 2>/dev/null) == "$$" ]]; then
    kill -TERM "$GEN" 2>/dev/null || true
    wait "$GEN" 2>/dev/null || true
  fi
  [[ $DIR == /dev/shm/reap-bench.* ]] && rm -rf --one-file-system -- "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

DIR=$(mktemp -d /dev/shm/reap-bench.XXXXXX)
rm -f "$OUT/ready"
"$BIN/bench_workload" shm --dir "$DIR" --holders "$HOLDERS" --segs "$SEGS" --unheld "$UNHELD" \
  --ready-file "$OUT/ready" &
GEN=$!
for ((i = 0; i < 2400; i++)); do [[ -e $OUT/ready ]] && break; sleep 0.025; done
[[ -e $OUT/ready ]] || { echo "profile.sh: population not ready" >&2; exit 1; }

declare -A CMDS=(
  ["reap - json"]="$BIN/reap -n --shm-only --shm-dir $DIR --uid 65534 --json"
  ["reap - human"]="$BIN/reap -n --shm-only --shm-dir $DIR --uid 65534"
  [floor]="$BIN/bench_floor $DIR --uid 65534"
)
echo "population: $HOLDERS holders x $SEGS segments + $UNHELD unheld; load $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "reap - json" "reap - human" floor; do
  read -r -a cmd <<<"${CMDS[$name]}"
  tag=${name// /}
  rm -f "$OUT/$tag.tsv"
  for ((i = 0; i < 5; i++)); do "$BIN/bench_timeit" --out "$OUT/$tag.tsv" --label "$tag" -- "${cmd[@]}"; done
  echo
  echo "== $name: median wall, user, sys, peak RSS of 5"
  sort -t$'\t' -k2,2n "$OUT/$tag.tsv" | sed -n 3p |
    awk -F'\t' '{printf "wall %.1f ms  user %.1f ms  sys %.1f ms  peak RSS %.1f MiB\n", $2*1000, $5*1000, $6*1000, $3/1024}'
  if command -v strace >/dev/null; then
    strace -f -c -o "$OUT/$tag.strace" "${cmd[@]}" >/dev/null
    echo "-- syscalls (strace -c -f; times inflated by tracing, counts exact)"
    sed -n '3,12p' "$OUT/$tag.strace" | awk '{printf "  %-16s %8s calls\n", $NF, $4}' || true
  fi
  if command -v perf >/dev/null; then
    perf record -q -e cpu-clock -F 4999 -g -o "$OUT/$tag.perf" -- "${cmd[@]}" >/dev/null 2>&1 || true
    echo "-- perf: share by object, then top symbols (self)"
    perf report -i "$OUT/$tag.perf" --no-children --sort dso --stdio 2>/dev/null |
      grep -E '^ +[0-9]' | head -4 | sed 's/^ */  /' || true
    perf report -i "$OUT/$tag.perf" --no-children --sort sym --stdio -g none 2>/dev/null |
      grep -E '^ +[0-9]' | head -15 | cut -c1-110 | sed 's/^ */  /' || true
  fi
done
