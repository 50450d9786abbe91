#!/usr/bin/env bash
# bench/run.sh: the whole benchmark suite of reap, in one command (about 5-10 minutes).
#
#   bench/run.sh [--quick] [--no-build] [--rounds N] [--reap PATH] [--update-docs]
#                [--wait-quiet SECONDS]
#
# --quick: 2 rounds and fewer points (a smoke test, ~1 minute). --wait-quiet: first wait up
# to SECONDS for the 1-minute load average to drop below 0.5 (timings on a busy 2-core
# machine are noise); the load before and after the run is recorded either way.
# Builds Release in build-bench/ (cmake), installs missing Debian tools (apt-get), then on
# synthetic populations made by bench_workload, with alternating runs (tools rotated every
# round, one untimed validation run each first):
#   scan    reap's dry-run shm scan vs the raw floor (bench_floor), the psutil algorithm
#           (psutil_scan.py over Debian's python3-psutil) and `lsof +D DIR`, at
#           200x10+500, 1000x10+10000 and 0x0+100000 (holders x segments + unheld);
#   plot    the same four at 100, 200, 500, 1000 holders x 10 + 1000 unheld (gnuplot PNG);
#   sweep   a real sweep of 100,000 unheld segments: reap vs floor --unlink vs psutil --unlink;
#   reap    300 cooperative and 300 SIGINT-ignoring orphans: reap vs ref_reap.py (the
#           reference design: SIGINT, poll /proc every 250 ms up to a 3 s grace, SIGKILL);
#   micro   the Google Benchmark parser micro-benchmarks (bench_proc_parse).
# Results: build-bench/bench-results/<time>/ (runs.tsv, results.md, scan.png, logs).
# --update-docs splices results.md into docs/BENCHMARKS.md and copies the PNG and raw data
# to bench/results/.
#
# Safety (docs/TESTING.md): segments live only in private mktemp -d /dev/shm/reap-bench.*
# directories owned by uid 65534 (reap runs with --uid 65534); process reaping targets only
# victims our generator started (orphan mode with a unique --match marker, a private --cwd
# and --adopter = our generator, a child subreaper), and every timed reap is preceded by a
# dry run whose selection must equal the generator's victim list, or the suite aborts. On
# exit, failure or Ctrl-C the trap stops every generator (their children die with them)
# and removes every private directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REAP_BENCH_BUILD:-$ROOT/build-bench}
BIN=$BUILD/bin
PY=/usr/bin/python3  # Debian's python3, which has python3-psutil (not a pyenv python3)
OWNER=65534

QUICK=0
DO_BUILD=1
UPDATE_DOCS=0
ROUNDS=7
WAIT_QUIET=0
REAP=""
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --no-build) DO_BUILD=0 ;;
    --update-docs) UPDATE_DOCS=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    --reap) REAP=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
((QUICK)) && ROUNDS=2
REAP=${REAP:-$BIN/reap}

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# ---- cleanup -----------------------------------------------------------------------------
GEN_PIDS=()  # bench_workload generators we started (children of this shell)
DIRS=()      # private directories we created

# True when PID is a live child of this shell (so a process we started, not a reused pid).
our_child() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest
  [[ ${2:-} == "$$" && $1 != Z ]]
}

stop_gen() {
  local pid=$1 i
  if our_child "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do our_child "$pid" || break; sleep 0.05; done
    if our_child "$pid"; then
      log "generator $pid did not stop on SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true  # its children see EOF on the life pipe and exit
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local keep=()
  for i in "${GEN_PIDS[@]}"; do [[ $i == "$pid" ]] || keep+=("$i"); done
  GEN_PIDS=("${keep[@]}")
}

remove_dir() {
  local d=$1
  case $d in
    /dev/shm/reap-bench.* | /tmp/reap-bench-cwd.*) rm -rf --one-file-system -- "$d" ;;
    *) log "not removing unexpected path $d" ;;
  esac
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local pid d order
  for pid in "${GEN_PIDS[@]}"; do stop_gen "$pid"; done
  for d in "${DIRS[@]}"; do remove_dir "$d"; done
  ((rc == 0)) || log "exit status $rc; everything started was stopped and private dirs removed"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

new_dir() {  # new_dir TEMPLATE -> prints the path, records it for cleanup
  local d
  d=$(mktemp -d "$1")
  DIRS+=("$d")
  NEW_DIR=$d
}

drop_dir() {
  local d=$1 keep=() x
  remove_dir "$d"
  for x in "${DIRS[@]}"; do [[ $x == "$d" ]] || keep+=("$x"); done
  DIRS=("${keep[@]}")
}

# ---- dependencies and build --------------------------------------------------------------
ensure_packages() {
  local missing=() p
  for p in cmake g++ libbenchmark-dev python3-psutil lsof gnuplot-nox libfmt-dev \
    nlohmann-json3-dev libcli11-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

build() {
  log "building Release in $BUILD"
  mkdir -p "$BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DREAP_BENCH=ON -DBUILD_TESTING=OFF \
    >"$BUILD/bench-configure.log" 2>&1 || { cat "$BUILD/bench-configure.log" >&2; fail "cmake configure"; }
  cmake --build "$BUILD" -j "$(nproc)" --target reap bench_workload bench_floor bench_timeit \
    bench_proc_parse >"$BUILD/bench-build.log" 2>&1 || { tail -50 "$BUILD/bench-build.log" >&2; fail "build"; }
}

ensure_packages
((DO_BUILD)) && build
for t in bench_workload bench_floor bench_timeit; do [[ -x $BIN/$t ]] || fail "missing $BIN/$t"; done
[[ -x $REAP ]] || fail "missing reap binary $REAP"

OUT=$BUILD/bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
TSV=$OUT/runs.tsv
LOG=$OUT/log.txt
: >"$TSV"
log "results in $OUT"

# ---- generators --------------------------------------------------------------------------
start_gen() {  # start_gen ARGS...: runs bench_workload in the background until it is ready
  local ready=$OUT/ready.$RANDOM$RANDOM i
  "$BIN/bench_workload" "$@" --ready-file "$ready" 2>>"$LOG" &
  GEN=$!
  GEN_PIDS+=("$GEN")
  for ((i = 0; i < 2400; i++)); do
    [[ -e $ready ]] && break
    our_child "$GEN" || fail "bench_workload $* exited early (see $LOG)"
    sleep 0.025
  done
  [[ -e $ready ]] || fail "bench_workload $* not ready after 60 s"
  READY_FILE=$ready
}

# timed LABEL EXPECT CMD...: one timed run appended to runs.tsv
timed() {
  local label=$1 expect=$2
  shift 2
  "$BIN/bench_timeit" --out "$TSV" --label "$label" --expect "$expect" \
    --stderr "$OUT/last.stderr" -- "$@" || {
    cat "$OUT/last.stderr" >&2
    fail "$label"
  }
}

# rotate N ITEMS...: the items rotated left by N (alternation with a changing order)
rotate() {
  local n=$1
  shift
  local a=("$@") k=$#
  local i
  for ((i = 0; i < k; i++)); do printf '%s\n' "${a[$(((i + n) % k))]}"; done
}

# ---- scan: reap dry run vs floor vs psutil vs lsof ---------------------------------------
scan_cmd() {  # scan_cmd TOOL DIR -> SCAN_CMD array, SCAN_EXPECT
  case $1 in
    reap) SCAN_CMD=("$REAP" -n --shm-only --shm-dir "$2" --uid "$OWNER" --json) SCAN_EXPECT=0 ;;
    floor) SCAN_CMD=("$BIN/bench_floor" "$2" --uid "$OWNER") SCAN_EXPECT=0 ;;
    psutil) SCAN_CMD=("$PY" "$ROOT/bench/psutil_scan.py" "$2" --uid "$OWNER") SCAN_EXPECT=0 ;;
    lsof) SCAN_CMD=(lsof -w +D "$2") SCAN_EXPECT=0,1 ;;  # 1: some file not open (dirs)
  esac
}

# Checks one tool's answer: HELD segments held, UNHELD not. Doubles as the warm-up run.
validate_scan() {
  local tool=$1 dir=$2 held=$3 unheld=$4 out=$OUT/validate.out
  scan_cmd "$tool" "$dir"
  "${SCAN_CMD[@]}" >"$out" 2>>"$LOG" || [[ $tool == lsof ]] || fail "$tool scan exited $?"
  local got
  case $tool in
    reap)
      got=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
items = d["shm"]["items"]
would = sum(1 for i in items if i["verdict"] == "would_unlink")
kept = sum(1 for i in items if i["verdict"] == "kept")
print(f"held={kept} unheld={would}")' "$out")
      ;;
    floor | psutil) got=$(grep -o 'held=[0-9]* unheld=[0-9]*' "$out") ;;
    lsof) got="held=$(awk -v p="$dir/" 'NR > 1 && index($NF, p) == 1 {print $NF}' "$out" |
      sort -u | wc -l) unheld=$((held + unheld - $(awk -v p="$dir/" \
      'NR > 1 && index($NF, p) == 1 {print $NF}' "$out" | sort -u | wc -l)))" ;;
  esac
  [[ $got == "held=$held unheld=$unheld" ]] ||
    fail "$tool answered '$got', expected 'held=$held unheld=$unheld' in $dir"
}

scan_scenario() {  # scan_scenario NAME HOLDERS SEGS UNHELD ROUNDS
  local name=$1 holders=$2 segs=$3 unheld=$4 rounds=$5 r tool
  log "scan $name: $holders holders x $segs segments + $unheld unheld, $rounds rounds"
  new_dir /dev/shm/reap-bench.XXXXXX
  local dir=$NEW_DIR
  start_gen shm --dir "$dir" --holders "$holders" --segs "$segs" --unheld "$unheld" \
    --owner "$OWNER" --remove-dir
  local gen=$GEN held=$((holders * segs)) tools=(reap floor psutil lsof)
  for tool in "${tools[@]}"; do validate_scan "$tool" "$dir" "$held" "$unheld"; done
  for ((r = 0; r < rounds; r++)); do
    mapfile -t order < <(rotate "$r" "${tools[@]}")
    for tool in "${order[@]}"; do
      scan_cmd "$tool" "$dir"
      timed "scan/$name/$tool" "$SCAN_EXPECT" "${SCAN_CMD[@]}"
    done
  done
  our_child "$gen" || fail "the population of $name died during the runs"
  stop_gen "$gen"
  drop_dir "$dir"
  rm -f "$READY_FILE" "$OUT/validate.out"
}

# ---- sweep: a real sweep of 100,000 unheld segments --------------------------------------
sweep_scenario() {  # sweep_scenario COUNT ROUNDS
  local count=$1 rounds=$2 r tool
  log "sweep: $count unheld segments, real unlink, $rounds rounds"
  new_dir /dev/shm/reap-bench.XXXXXX
  local dir=$NEW_DIR tools=(reap floor psutil) cmd
  for ((r = -1; r < rounds; r++)); do  # round -1: untimed warm-up and check
    mapfile -t order < <(rotate "$((r + 1))" "${tools[@]}")
    for tool in "${order[@]}"; do
      "$BIN/bench_workload" fill --dir "$dir" --unheld "$count" --owner "$OWNER"
      case $tool in
        reap) cmd=("$REAP" --shm-only --shm-dir "$dir" --uid "$OWNER" --json) ;;
        floor) cmd=("$BIN/bench_floor" "$dir" --uid "$OWNER" --unlink) ;;
        psutil) cmd=("$PY" "$ROOT/bench/psutil_scan.py" "$dir" --uid "$OWNER" --unlink) ;;
      esac
      if ((r < 0)); then
        "${cmd[@]}" >/dev/null 2>>"$LOG" || fail "$tool sweep exited $?"
      else
        timed "sweep/$count/$tool" 0 "${cmd[@]}"
      fi
      [[ -z $(find "$dir" -mindepth 1 -print -quit) ]] || fail "$tool left files in $dir"
    done
  done
  drop_dir "$dir"
}

# ---- reap: 300 leaked orphans, cooperative or ignoring SIGINT ----------------------------
reap_scenario() {  # reap_scenario KIND COUNT ROUNDS   (KIND: coop | ignore)
  local kind=$1 count=$2 rounds=$3 r tool extra=()
  [[ $kind == ignore ]] && extra=(--ignore-sigint)
  log "reap: $count orphans ($kind), $rounds rounds"
  local tools=(reap ref)
  for ((r = 0; r < rounds; r++)); do
    mapfile -t order < <(rotate "$r" "${tools[@]}")
    for tool in "${order[@]}"; do
      new_dir /tmp/reap-bench-cwd.XXXXXX
      local cwd=$NEW_DIR marker="reap-bench-victim-$$-$RANDOM$RANDOM"
      start_gen procs --count "$count" --cwd "$cwd" --marker "$marker" "${extra[@]}"
      local gen=$GEN victims=$READY_FILE.pids sel=$OUT/selection
      local sel_args=(--cwd "$cwd" --match "$marker" --adopter "$gen")
      # Safety: the dry run must select exactly our victims before anything is signalled.
      if [[ $tool == reap ]]; then
        "$REAP" -n "${sel_args[@]}" --json 2>>"$LOG" | "$PY" -c '
import json, sys
for item in json.load(sys.stdin)["processes"]["items"]:
    if item["verdict"] in ("would_reap", "would_kill"):
        print(item["pid"])' | sort -n >"$sel" || true
      else
        "$PY" "$ROOT/bench/ref_reap.py" -n "${sel_args[@]}" 2>>"$LOG" | sort -n >"$sel" || true
      fi
      sort -n "$victims" | cmp -s - "$sel" ||
        fail "$tool dry run selected $(wc -l <"$sel") processes, not exactly our $count victims"
      our_child "$gen" || fail "the generator of the $kind victims died"
      local expect=0
      [[ $kind == ignore ]] && expect=1  # SIGKILL was needed
      if [[ $tool == reap ]]; then
        timed "reap/$kind/reap" "$expect" "$REAP" "${sel_args[@]}" --json
      else
        timed "reap/$kind/ref" "$expect" "$PY" "$ROOT/bench/ref_reap.py" "${sel_args[@]}"
      fi
      # Every victim must be gone (or a zombie): the reference returns right after sending
      # SIGKILL, so allow the kernel up to 2 s to finish them (untimed).
      local pid left i st
      for ((i = 0; i < 40; i++)); do
        left=0
        while read -r pid; do
          st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
          st=${st##*) }
          [[ ${st:0:1} == Z ]] || left=$((left + 1))
        done <"$victims"
        ((left == 0)) && break
        sleep 0.05
      done
      ((left == 0)) || fail "$tool left $left of $count victims alive"
      stop_gen "$gen"
      drop_dir "$cwd"
      rm -f "$READY_FILE" "$READY_FILE.pids" "$sel"
    done
  done
}

# ---- machine -----------------------------------------------------------------------------
if ((WAIT_QUIET > 0)); then
  for ((i = 0; i < WAIT_QUIET; i += 5)); do
    awk '{exit !($1 < 0.5)}' /proc/loadavg && break
    ((i % 60 == 0)) && log "waiting for a quiet machine: load $(cut -d' ' -f1-3 /proc/loadavg)"
    sleep 5
  done
fi
{
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cpus=$(nproc)"
  echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  # shellcheck source=/dev/null
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "virt=$(systemd-detect-virt 2>/dev/null || true) $(lscpu | awk -F: '/Hypervisor vendor/ {gsub(/ /, "", $2); print "(" $2 " guest)"}')"
  echo "compiler=$(c++ --version | head -1)"
  echo "python=$($PY --version 2>&1)"
  echo "psutil=$($PY -c 'import psutil; print(psutil.__version__)')"
  echo "lsof=$(lsof -v 2>&1 | awk '/revision:/ {print $2; exit}')"
  echo "reap=$("$REAP" --version 2>/dev/null | head -1)"
  pids=(/proc/[0-9]*)
  echo "base_processes=${#pids[@]}"
  echo "rounds=$ROUNDS"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
} >"$OUT/machine.txt"

START=$SECONDS
if ((QUICK)); then
  scan_scenario 200x10+500 200 10 500 "$ROUNDS"
  scan_scenario 1000x10+10000 1000 10 10000 "$ROUNDS"
  sweep_scenario 100000 1
  reap_scenario coop 300 1
  reap_scenario ignore 300 1
  PLOT_POINTS=(100 1000)
else
  scan_scenario 200x10+500 200 10 500 "$ROUNDS"
  scan_scenario 1000x10+10000 1000 10 10000 "$ROUNDS"
  scan_scenario 0x0+100000 0 0 100000 "$ROUNDS"
  sweep_scenario 100000 "$ROUNDS"
  reap_scenario coop 300 "$ROUNDS"
  reap_scenario ignore 300 "$ROUNDS"
  PLOT_POINTS=(100 200 500 1000)
fi
for n in "${PLOT_POINTS[@]}"; do
  scan_scenario "plot-$n" "$n" 10 1000 $(((ROUNDS + 1) / 2))
done

if [[ -x $BIN/bench_proc_parse ]]; then
  log "micro-benchmarks (bench_proc_parse)"
  "$BIN/bench_proc_parse" --benchmark_min_time=0.2 --benchmark_out="$OUT/micro.json" \
    --benchmark_out_format=json >"$OUT/micro.txt" 2>>"$LOG"
fi

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
log "report"
"$PY" "$ROOT/bench/report.py" "$OUT"
(cd "$OUT" && gnuplot scan.gp) || log "gnuplot failed: no scan.png"
log "done in $((SECONDS - START)) s: $OUT/results.md"

if ((UPDATE_DOCS)); then
  mkdir -p "$ROOT/bench/results"
  cp "$OUT/scan.png" "$OUT/runs.tsv" "$OUT/machine.txt" "$OUT/plot.dat" "$ROOT/bench/results/"
  [[ -e $OUT/micro.json ]] && cp "$OUT/micro.json" "$ROOT/bench/results/"
  "$PY" "$ROOT/bench/report.py" --splice "$OUT/results.md" "$ROOT/docs/BENCHMARKS.md"
  log "updated docs/BENCHMARKS.md and bench/results/"
fi
cat "$OUT/results.md"
