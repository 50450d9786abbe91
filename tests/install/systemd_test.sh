#!/usr/bin/env bash
# `systemd-analyze verify` passes on the installed units (system, user, and an instance of
# the per-user template) with nothing on stderr, and a unit naming a missing binary fails it
# (so the check has teeth). Then the service's own command line, with its defaults, runs the
# installed reap against a private directory as an unused uid.
. "$(dirname "$0")/common.sh"
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (apt-get install systemd)"
install_prefix
verify() {  # verify [--user] UNIT...: rc 0 and no diagnostics
  local err=$WORK/verify.err
  XDG_RUNTIME_DIR=$WORK/xdg systemd-analyze "$@" 2>"$err" >/dev/null || { cat "$err" >&2; return 1; }
  [[ ! -s $err ]] || { cat "$err" >&2; return 1; }
}
mkdir -p "$WORK/xdg" && chmod 700 "$WORK/xdg"
if ! systemd-analyze verify --man=no "$PREFIX/lib/systemd/system/reap-sweep.timer" 2>"$WORK/probe" &&
  grep -q "Failed to initialize manager" "$WORK/probe"; then
  skip "systemd-analyze cannot run here: $(head -1 "$WORK/probe")"
fi
sys=$PREFIX/lib/systemd/system usr=$PREFIX/lib/systemd/user
verify verify --man=no "$sys/reap-sweep.service" "$sys/reap-sweep.timer" || fail "verify system units"
verify --user verify --man=no "$usr/reap-sweep.service" "$usr/reap-sweep.timer" || fail "verify user units"
mkdir "$WORK/inst"
cp "$sys/reap-sweep@.service" "$WORK/inst/reap-sweep@root.service"
cp "$sys/reap-sweep@.timer" "$WORK/inst/reap-sweep@root.timer"
verify verify --man=no "$WORK/inst/reap-sweep@root.service" "$WORK/inst/reap-sweep@root.timer" ||
  fail "verify reap-sweep@root"
mkdir "$WORK/bad"
sed "s#$PREFIX/bin/reap#$PREFIX/bin/no-such-reap#" "$sys/reap-sweep.service" >"$WORK/bad/reap-sweep.service"
verify verify --man=no "$WORK/bad/reap-sweep.service" 2>/dev/null && fail "verify accepts a missing binary"
grep -q '^OnUnitActiveSec=10min$' "$sys/reap-sweep.timer" || fail "the timer does not run every 10 minutes"
grep -q 'REAP_MIN_AGE=15min' "$sys/reap-sweep.service" || fail "the default floor is not 15 min"

# The ExecStart line with the unit's defaults, on a private dir: it must parse, keep what is
# younger than the 15 min floor, log and write metrics; with the floor set to 0 it sweeps.
shm=$(mktemp -d /dev/shm/reap-test.XXXXXX)
trap 'rm -rf "$WORK" "$shm"' EXIT
chown 65534:65534 "$shm" "$WORK" && chmod 755 "$WORK"
setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c "umask 077; : >'$shm/a'; : >'$shm/b'"
unit_command() {  # unit_command MIN_AGE: the service's ExecStart with its variables filled in
  local cmd
  cmd=$(sed -n 's/^ExecStart=//p' "$sys/reap-sweep.service")
  cmd=${cmd//'${REAP_MIN_AGE}'/$1}
  cmd=${cmd//'${REAP_SHM_DIR}'/$shm}
  cmd=${cmd//'${REAP_METRICS_FILE}'/$WORK/reap.prom}
  echo "${cmd//\/var\/log\/reap\/sweep.jsonl/$WORK/sweep.jsonl}"
}
default_age=$(sed -n 's/^Environment=.*REAP_MIN_AGE=\([^ ]*\).*/\1/p' "$sys/reap-sweep.service")
# shellcheck disable=SC2046
setpriv --reuid=65534 --regid=65534 --clear-groups -- $(unit_command "$default_age") >"$WORK/out" ||
  { cat "$WORK/out"; fail "the unit's command"; }
grep -q "^shm a: kept: changed .* younger than --min-age 900.0 s$" "$WORK/out" ||
  { cat "$WORK/out"; fail "the unit's command did not keep to its 15 min floor"; }
[[ -e $shm/a && -e $shm/b ]] || fail "the unit's command removed a new segment"
# shellcheck disable=SC2046
setpriv --reuid=65534 --regid=65534 --clear-groups -- $(unit_command 0) >"$WORK/out" ||
  { cat "$WORK/out"; fail "the unit's command (floor 0)"; }
[[ ! -e $shm/a && ! -e $shm/b ]] || { cat "$WORK/out"; fail "the unit's command did not sweep"; }
[[ $(wc -l <"$WORK/sweep.jsonl") == 2 ]] || fail "not one log line per run"
grep -q '"unlinked":2' "$WORK/sweep.jsonl" || fail "no log line of the sweep"
grep -q '^reap_shm_segments{uid="65534",verdict="unlinked"} 2$' "$WORK/reap.prom" || fail "no metrics"
echo "systemd units ok"
