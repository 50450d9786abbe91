#!/usr/bin/env bash
# bench/run.sh: the whole benchmark suite of reap, in one command (about 10-15 minutes).
#
#   bench/run.sh [--quick] [--no-build] [--rounds N] [--reap PATH] [--update-docs]
#                [--wait-quiet SECONDS] [--ns-count N] [--huge N] [--huge-rounds N]
#                [--no-pytest] [--only PARTS]
#
# --quick: 2 rounds and smaller sizes (a smoke test, 1-2 minutes). --rounds: alternating
# rounds per comparison (default 7; the targets want medians of at least 5). --wait-quiet:
# first wait up to SECONDS for the 1-minute load average to drop below 0.5 (timings on a
# busy 2-core machine are noise); the load before and after the run is recorded either way.
# --ns-count: orphans of the PID-namespace case (default 3000; --quick 1000). --huge:
# unheld segments of the scale case (default 1,000,000; --quick 200,000), swept
# --huge-rounds times (default 1: the figure asked for is its peak RSS).
# --no-pytest: skip the pytest plugin's per-test cost. --only: a comma-separated subset of
# the parts below (e.g. --only proc,pidns), for a smoke test of one part.
# Builds Release in build-bench/ (cmake), installs missing Debian tools (apt-get), then on
# synthetic populations made by bench_workload, with alternating runs (tools rotated every
# round, one untimed validation run each first):
#   scan    reap's dry-run shm scan vs the raw floor (bench_floor: list + lstat the dir, then
#           maps + fd stat of every process, one thread), the psutil algorithm
#           (psutil_scan.py over Debian's python3-psutil) and `lsof +D DIR`, at
#           300x10+3000, 1000x10+10000 and 0x0+100000 (holders x segments + unheld);
#   plot    the same four at 100, 200, 500, 1000 holders x 10 + 1000 unheld (gnuplot PNG);
#   nocand  nothing to sweep (an empty private dir, dry run; a dir of other-uid files, real
#           sweep), next to 300 idle processes, vs `reap --version`;
#   sweep   a real sweep of 100,000 unheld segments: reap vs floor --unlink vs
#           `find DIR -maxdepth 1 -type f -user U -delete` vs psutil --unlink;
#   huge    a real sweep of 1,000,000 unheld segments: reap (peak RSS) and find;
#   proc    300 cooperative and 300 SIGINT-ignoring orphans: reap vs the kill floor
#           (bench_kill_floor: handed the pids, pidfd_open, signal, epoll) vs ref_reap.py
#           (the reference design: SIGINT, poll /proc every 250 ms up to a 3 s grace,
#           SIGKILL); reap vs the kill floor at 100 and 1000 cooperative orphans (plot);
#   pidns   3000 cooperative orphans inside `unshare --pid --fork --mount-proc`: reap vs the
#           kill floor, both run inside the namespace;
#   pytest  the pytest plugin's cost per test (pytest_overhead.py), if /usr/bin/python3 has
#           pytest;
#   micro   the Google Benchmark parser micro-benchmarks (bench_proc_parse).
# Every timed reap runs with REAP_TRACE_PHASES=1; its per-phase durations (stderr) are kept
# in phases/ and summed per phase in the report ("where the time goes").
# Results: build-bench/bench-results/<time>/ (runs.tsv, results.md, scan.png, procs.png,
# phases/, logs). --update-docs splices results.md into docs/BENCHMARKS.md and copies the
# PNGs and raw data to bench/results/.
#
# Safety (docs/TESTING.md): segments live only in private mktemp -d /dev/shm/reap-bench.*
# directories owned by uid 65534 (reap runs with --uid 65534); process reaping targets only
# victims our generator started (orphan mode with a unique --match marker that is the
# victims' program name, argv[0], a private --cwd and --adopter = our generator, a child
# subreaper); every timed reap is preceded by a dry run whose selection must equal the
# generator's victim list, and the kill floor is handed that list only after every pid on
# it was checked to be a live child of our generator, or the suite aborts. On exit, failure
# or Ctrl-C the trap stops every generator (their children die with them) and removes every
# private directory; the PID-namespace case runs in a copy of this script that is the
# namespace's init (everything in the namespace dies with it) and gets SIGTERM when
# `unshare` dies (--kill-child).
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
ROUNDS_SET=0
WAIT_QUIET=0
REAP=""
NS_COUNT=""
HUGE=""
HUGE_ROUNDS=1
PYTEST=1
ONLY=""
IN_PIDNS=""  # internal: OUT dir of the outer run, when this copy is a PID namespace's init
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --no-build) DO_BUILD=0 ;;
    --update-docs) UPDATE_DOCS=1 ;;
    --rounds) ROUNDS=$2; ROUNDS_SET=1; shift ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    --reap) REAP=$2; shift ;;
    --ns-count) NS_COUNT=$2; shift ;;
    --huge) HUGE=$2; shift ;;
    --huge-rounds) HUGE_ROUNDS=$2; shift ;;
    --no-pytest) PYTEST=0 ;;
    --only) ONLY=",$2,"; shift ;;
    --in-pidns) IN_PIDNS=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for v in "$ROUNDS" "$HUGE_ROUNDS" ${HUGE:+"$HUGE"} ${NS_COUNT:+"$NS_COUNT"}; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: not a positive number: $v" >&2; exit 2; }
done
if [[ -n $ONLY ]]; then
  ((UPDATE_DOCS)) && { echo "run.sh: --update-docs needs the whole suite, not --only" >&2; exit 2; }
  for p in ${ONLY//,/ }; do
    case $p in
      scan | plot | nocand | sweep | huge | proc | pidns | pytest | micro) ;;
      *)
        echo "run.sh: --only: unknown part $p (scan plot nocand sweep huge proc pidns pytest" \
          "micro)" >&2
        exit 2 ;;
    esac
  done
fi
if [[ -n $IN_PIDNS ]] && (($$ != 1)); then
  echo "run.sh: --in-pidns is internal (the init of unshare --pid --fork --mount-proc)" >&2
  exit 2
fi
((QUICK && !ROUNDS_SET)) && ROUNDS=2
HUGE=${HUGE:-$( ((QUICK)) && echo 200000 || echo 1000000)}
NS_COUNT=${NS_COUNT:-$( ((QUICK)) && echo 1000 || echo 3000)}
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
    bench_kill_floor bench_proc_parse >"$BUILD/bench-build.log" 2>&1 || { tail -50 "$BUILD/bench-build.log" >&2; fail "build"; }
}

if [[ -z $IN_PIDNS ]]; then
  ensure_packages
  ((DO_BUILD)) && build
fi
for t in bench_workload bench_floor bench_timeit bench_kill_floor; do
  [[ -x $BIN/$t ]] || fail "missing $BIN/$t"
done
[[ -x $REAP ]] || fail "missing reap binary $REAP"

if [[ -n $IN_PIDNS ]]; then
  OUT=$IN_PIDNS  # the outer run's directory: same runs.tsv, same log
else
  OUT=$BUILD/bench-results/$(date +%Y%m%d-%H%M%S)
  mkdir -p "$OUT"
  : >"$OUT/runs.tsv"
  log "results in $OUT"
fi
TSV=$OUT/runs.tsv
LOG=$OUT/log.txt
mkdir -p "$OUT/phases"

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

# timed LABEL EXPECT CMD...: one timed run appended to runs.tsv. With TRACE=1 in the
# environment, reap's phase durations (REAP_TRACE_PHASES, on stderr) are kept in phases/.
timed() {
  local label=$1 expect=$2 err=$OUT/last.stderr
  shift 2
  if [[ ${TRACE:-0} == 1 ]]; then
    err=$OUT/phases/${label//\//_}.$RANDOM$RANDOM.txt
    REAP_TRACE_PHASES=1 "$BIN/bench_timeit" --out "$TSV" --label "$label" --expect "$expect" \
      --stderr "$err" -- "$@" || { cat "$err" >&2; fail "$label"; }
    # phases.tsv: label, run (the file), phase, milliseconds
    awk -v l="$label" -v f="${err##*/}" 'sub(/^reap: phase /, "") && $NF == "ms" {
      ms = $(NF - 1); sub(/: [0-9.]+ ms$/, ""); printf "%s\t%s\t%s\t%s\n", l, f, $0, ms
    }' "$err" >>"$OUT/phases.tsv"
  else
    "$BIN/bench_timeit" --out "$TSV" --label "$label" --expect "$expect" \
      --stderr "$err" -- "$@" || { cat "$err" >&2; fail "$label"; }
  fi
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

# ---- sweep: a real sweep of unheld segments ----------------------------------------------
sweep_cmd() {  # sweep_cmd TOOL DIR -> SWEEP_CMD array
  case $1 in
    reap) SWEEP_CMD=("$REAP" --shm-only --shm-dir "$2" --uid "$OWNER" --json) ;;
    floor) SWEEP_CMD=("$BIN/bench_floor" "$2" --uid "$OWNER" --unlink) ;;
    find) SWEEP_CMD=(find "$2" -maxdepth 1 -type f -user "$OWNER" -delete) ;;
    psutil) SWEEP_CMD=("$PY" "$ROOT/bench/psutil_scan.py" "$2" --uid "$OWNER" --unlink) ;;
  esac
}

# sweep_scenario NAME COUNT ROUNDS SIZE TOOLS...: the directory is refilled before every run.
# Round -1 is an untimed warm-up and check, skipped with NO_WARMUP=1 (the timed runs are
# checked too: exit 0 and an empty directory afterwards).
sweep_scenario() {
  local name=$1 count=$2 rounds=$3 size=$4 r tool first=-1
  shift 4
  local tools=("$@")
  [[ ${NO_WARMUP:-0} == 1 ]] && first=0
  log "$name: $count unheld segments, real unlink, $rounds rounds: ${tools[*]}"
  new_dir /dev/shm/reap-bench.XXXXXX
  local dir=$NEW_DIR
  for ((r = first; r < rounds; r++)); do
    mapfile -t order < <(rotate "$((r + 1))" "${tools[@]}")
    for tool in "${order[@]}"; do
      "$BIN/bench_workload" fill --dir "$dir" --unheld "$count" --owner "$OWNER" --size "$size" ||
        fail "cannot fill $dir"
      sweep_cmd "$tool" "$dir"
      if ((r < 0)); then
        "${SWEEP_CMD[@]}" >/dev/null 2>>"$LOG" || fail "$tool sweep exited $?"
      else
        TRACE=$([[ $tool == reap ]] && echo 1 || echo 0) timed "$name/$count/$tool" 0 \
          "${SWEEP_CMD[@]}"
      fi
      [[ -z $(find "$dir" -mindepth 1 -print -quit) ]] || fail "$tool left files in $dir"
    done
  done
  drop_dir "$dir"
}

# ---- nocand: a sweep with nothing to sweep, vs reap --version ----------------------------
nocand_scenario() {  # nocand_scenario ROUNDS
  local rounds=$1 r tool other=$((OWNER - 1))
  log "nocand: no candidates (empty dir; files of uid $other), 300 idle processes, $rounds rounds"
  # 300 idle processes, as on a busy machine: a /proc scan would have them to read.
  new_dir /tmp/reap-bench-cwd.XXXXXX
  local cwd=$NEW_DIR
  start_gen procs --count 300 --cwd "$cwd" --marker "reap-bench-idle-$$-$RANDOM$RANDOM"
  local gen=$GEN idle_ready=$READY_FILE
  new_dir /dev/shm/reap-bench.XXXXXX
  local empty=$NEW_DIR
  new_dir /dev/shm/reap-bench.XXXXXX
  local others=$NEW_DIR
  "$BIN/bench_workload" fill --dir "$others" --unheld 100 --owner "$other" || fail "fill $others"
  local tools=(empty other version) cmd=()
  nocand_cmd() {
    case $1 in
      empty) cmd=("$REAP" -n --shm-only --shm-dir "$empty" --uid "$OWNER" --json) ;;
      other) cmd=("$REAP" --shm-only --shm-dir "$others" --uid "$OWNER" --json) ;;
      version) cmd=("$REAP" --version) ;;
    esac
  }
  for ((r = -1; r < rounds; r++)); do
    mapfile -t order < <(rotate "$((r + 1))" "${tools[@]}")
    for tool in "${order[@]}"; do
      nocand_cmd "$tool"
      if ((r < 0)); then
        "${cmd[@]}" >"$OUT/validate.out" 2>>"$LOG" || fail "nocand $tool exited $?"
      else
        TRACE=$([[ $tool == version ]] && echo 0 || echo 1) timed "nocand/$tool" 0 "${cmd[@]}"
      fi
    done
  done
  [[ $(find "$others" -mindepth 1 -type f -user "$other" | wc -l) == 100 ]] ||
    fail "the sweep of $others touched files of uid $other"
  [[ -z $(find "$empty" -mindepth 1 -print -quit) ]] || fail "$empty is not empty"
  our_child "$gen" || fail "the idle processes' generator died"
  stop_gen "$gen"
  drop_dir "$empty"
  drop_dir "$others"
  drop_dir "$cwd"
  rm -f "$idle_ready" "$idle_ready.pids" "$OUT/validate.out"
}

# ---- proc: leaked orphans, cooperative or ignoring SIGINT --------------------------------
# Prints how many pids of the list file $2 are live (not zombie) children of $1.
live_children_of() {
  sed 's|^|/proc/|; s|$|/stat|' "$2" | { xargs cat 2>/dev/null || true; } |
    awk -v gen="$1" '{ sub(/^.*\) /, ""); if ($2 == gen && $1 != "Z") n++ } END { print n + 0 }'
}

# proc_scenario KIND COUNT ROUNDS TOOLS...   (KIND: coop | ignore; TOOLS: reap floor ref)
# Labels: proc/KIND/COUNT/TOOL (proc/ns-KIND/... inside the PID namespace).
proc_scenario() {
  local kind=$1 count=$2 rounds=$3 r tool extra=() sig=INT
  shift 3
  local tools=("$@")
  [[ $kind == ignore ]] && extra=(--ignore-sigint) sig=KILL
  local label=proc/$kind
  [[ -n $IN_PIDNS ]] && label=proc/ns-$kind
  log "$label: $count orphans, $rounds rounds: ${tools[*]}"
  for ((r = 0; r < rounds; r++)); do
    mapfile -t order < <(rotate "$r" "${tools[@]}")
    for tool in "${order[@]}"; do
      new_dir /tmp/reap-bench-cwd.XXXXXX
      local cwd=$NEW_DIR marker="reap-bench-victim-$$-$RANDOM$RANDOM"
      start_gen procs --count "$count" --cwd "$cwd" --marker "$marker" "${extra[@]}"
      local gen=$GEN victims=$READY_FILE.pids sel=$OUT/selection
      local sel_args=(--cwd "$cwd" --match "$marker" --adopter "$gen")
      [[ $(wc -l <"$victims") == "$count" ]] ||
        fail "the generator made $(wc -l <"$victims") victims, not $count"
      # Safety: the dry run must select exactly our victims before anything is signalled;
      # the kill floor is handed the list only when every pid on it is a live child of gen.
      case $tool in
        reap)
          "$REAP" -n "${sel_args[@]}" --json 2>>"$LOG" | "$PY" -c '
import json, sys
for item in json.load(sys.stdin)["processes"]["items"]:
    if item["verdict"] in ("would_reap", "would_kill"):
        print(item["pid"])' | sort -n >"$sel" || true ;;
        ref)
          "$PY" "$ROOT/bench/ref_reap.py" -n "${sel_args[@]}" 2>>"$LOG" | sort -n >"$sel" ||
            true ;;
        floor)
          if [[ $(live_children_of "$gen" "$victims") == "$count" ]]; then
            sort -n "$victims" >"$sel"
          else
            : >"$sel"
          fi ;;
      esac
      sort -n "$victims" | cmp -s - "$sel" ||
        fail "$tool dry run selected $(wc -l <"$sel") processes, not exactly our $count victims"
      our_child "$gen" || fail "the generator of the $kind victims died"
      local expect=0
      [[ $kind == ignore && $tool != floor ]] && expect=1  # SIGKILL was needed
      case $tool in
        reap) TRACE=1 timed "$label/$count/reap" "$expect" "$REAP" "${sel_args[@]}" --json ;;
        ref) timed "$label/$count/ref" "$expect" "$PY" "$ROOT/bench/ref_reap.py" "${sel_args[@]}" ;;
        floor) timed "$label/$count/floor" 0 "$BIN/bench_kill_floor" --signal "$sig" \
          --timeout 30 --pids-file "$sel" ;;
      esac
      # Every victim must be gone (or a zombie): the reference returns right after sending
      # SIGKILL, so allow the kernel up to 2 s to finish them (untimed).
      local left i
      for ((i = 0; i < 40; i++)); do
        left=$(live_children_of "$gen" "$victims")
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

# ---- pidns: orphans in a private PID namespace -------------------------------------------
# A copy of this script becomes the namespace's init (--in-pidns OUT) and runs proc_scenario
# there; it appends to the same runs.tsv. --kill-child: it gets SIGTERM if unshare dies; when
# it exits, the kernel kills whatever is left in the namespace.
pidns_scenario() {  # pidns_scenario COUNT ROUNDS
  local count=$1 rounds=$2
  log "pidns: $count orphans in a private PID namespace, $rounds rounds"
  unshare --pid --fork --mount-proc --kill-child=SIGTERM \
    "$ROOT/bench/run.sh" --in-pidns "$OUT" --reap "$REAP" --rounds "$rounds" \
    --ns-count "$count" || fail "the PID-namespace run failed (see above and $LOG)"
}

if [[ -n $IN_PIDNS ]]; then
  proc_scenario coop "$NS_COUNT" "$ROUNDS" reap floor
  exit 0
fi

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

part() {  # part NAME: true when NAME is to run
  [[ -z $ONLY || $ONLY == *",$1,"* ]]
}

START=$SECONDS
if ((QUICK)); then
  SCAN_ROWS=("300x10+3000 300 10 3000" "1000x10+10000 1000 10 10000")
  PLOT_POINTS=(100 1000)
  PROC_POINTS=(100)
  SWEEP_ROUNDS=1
else
  SCAN_ROWS=("300x10+3000 300 10 3000" "1000x10+10000 1000 10 10000" "0x0+100000 0 0 100000")
  PLOT_POINTS=(100 200 500 1000)
  PROC_POINTS=(100 1000)
  SWEEP_ROUNDS=$ROUNDS
fi
if part scan; then
  for row in "${SCAN_ROWS[@]}"; do
    # shellcheck disable=SC2086
    scan_scenario $row "$ROUNDS"
  done
fi
if part nocand; then nocand_scenario "$ROUNDS"; fi
if part sweep; then sweep_scenario sweep 100000 "$SWEEP_ROUNDS" 65536 reap floor find psutil; fi
if part huge; then NO_WARMUP=1 sweep_scenario huge "$HUGE" "$HUGE_ROUNDS" 0 reap find; fi
if part proc; then
  proc_scenario coop 300 "$ROUNDS" reap floor ref
  proc_scenario ignore 300 "$ROUNDS" reap floor ref
  for n in "${PROC_POINTS[@]}"; do
    proc_scenario coop "$n" "$(((ROUNDS + 1) / 2))" reap floor
  done
fi
if part pidns; then pidns_scenario "$NS_COUNT" "$ROUNDS"; fi
if part plot; then
  for n in "${PLOT_POINTS[@]}"; do
    scan_scenario "plot-$n" "$n" 10 1000 $(((ROUNDS + 1) / 2))
  done
fi

if ! part pytest; then
  :
elif ((PYTEST)) && "$PY" -c 'import pytest' 2>/dev/null; then
  log "pytest plugin: cost per test"
  if ((QUICK)); then pt=(--tests 50 --rounds "$ROUNDS"); else pt=(--rounds "$ROUNDS"); fi
  "$PY" "$ROOT/bench/pytest_overhead.py" "$REAP" "${pt[@]}" --tsv "$OUT/pytest.tsv" \
    >"$OUT/pytest.txt" 2>>"$LOG" || log "pytest_overhead.py failed (see $LOG)"
elif ((PYTEST)); then
  log "no pytest for $PY (Debian: python3-pytest): the per-test cost is not measured"
fi

if part micro && [[ -x $BIN/bench_proc_parse ]]; then
  log "micro-benchmarks (bench_proc_parse)"
  "$BIN/bench_proc_parse" --benchmark_min_time=0.2 --benchmark_out="$OUT/micro.json" \
    --benchmark_out_format=json >"$OUT/micro.txt" 2>>"$LOG"
fi

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
log "report"
"$PY" "$ROOT/bench/report.py" "$OUT"
for gp in scan procs; do  # report.py writes a .gp file only when it has points to plot
  [[ ! -e $OUT/$gp.gp ]] || (cd "$OUT" && gnuplot $gp.gp) || log "gnuplot failed: no $gp.png"
done
log "done in $((SECONDS - START)) s: $OUT/results.md"

if ((UPDATE_DOCS)); then
  mkdir -p "$ROOT/bench/results"
  cp "$OUT/scan.png" "$OUT/procs.png" "$OUT/runs.tsv" "$OUT/phases.tsv" "$OUT/machine.txt" \
    "$OUT/plot.dat" "$OUT/procs.dat" "$ROOT/bench/results/"
  for f in micro.json pytest.tsv; do
    [[ -e $OUT/$f ]] && cp "$OUT/$f" "$ROOT/bench/results/"
  done
  "$PY" "$ROOT/bench/report.py" --splice "$OUT/results.md" "$ROOT/docs/BENCHMARKS.md"
  log "updated docs/BENCHMARKS.md and bench/results/"
fi
cat "$OUT/results.md"
