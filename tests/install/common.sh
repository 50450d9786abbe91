# Shared by the install tests: `fail`, a temp dir removed on exit, and an install prefix.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
BUILD=$(cd "$BUILD" && pwd) SRC=$(cd "$SRC" && pwd)  # the tests cd elsewhere
WORK=$(mktemp -d /tmp/reap-install-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix
install_prefix() {
  cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log" >&2; fail "cmake --install"; }
}
