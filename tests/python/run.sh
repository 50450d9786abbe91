#!/usr/bin/env bash
# Runs the pytest_reap suite (pytester, Debian's python3-pytest and python3-pytest-xdist)
# against the built reap: run.sh REAP_BIN [pytest args...]. As root, the suite runs as the
# unused uid 65534 (TESTING.md: not only as root; and on machines whose PID 1 cannot be
# inspected, root-owned segments are rightly kept), from a copy it can read.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
reap_bin="$1"
shift
py=/usr/bin/python3
if ! "$py" -c 'import pytest' 2>/dev/null; then
  echo "python tests: /usr/bin/python3 has no pytest (scripts/deps.sh installs python3-pytest)" >&2
  exit 1
fi
export PYTHONDONTWRITEBYTECODE=1
if [ "$(id -u)" = 0 ]; then
  work="$(mktemp -d /tmp/reap-pytest.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/tests"
  cp -r "$src/python" "$work/python"
  cp -r "$here" "$work/tests/python"
  cp "$reap_bin" "$work/reap"
  chmod -R a+rX "$work"
  cd "$work/tests/python"
  PYTHONPATH="$work/python" REAP_BIN="$work/reap" HOME="$work" \
    setpriv --reuid 65534 --regid 65534 --clear-groups \
    "$py" -m pytest -p no:cacheprovider -q "$@" test_pytest_reap.py
else
  cd "$here"
  PYTHONPATH="$src/python" REAP_BIN="$reap_bin" "$py" -m pytest -p no:cacheprovider -q "$@" \
    test_pytest_reap.py
fi
