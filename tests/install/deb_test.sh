#!/usr/bin/env bash
# CPack builds a .deb whose file list is the install layout under /usr and whose Depends
# names the package of every shared library the binary links. It installs (simulated with
# apt-get -s; for real with REAP_TEST_DPKG=1, which runs dpkg -i and dpkg -r on this machine).
. "$(dirname "$0")/common.sh"
command -v dpkg-deb >/dev/null || skip "dpkg-deb is not installed"
(cd "$BUILD" && cpack -G DEB -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log" >&2; fail "cpack"; }
deb=$(ls "$WORK"/pkg/reap_*.deb)
dpkg-deb -I "$deb" >"$WORK/info"
dpkg-deb -c "$deb" | awk '{print $6 ($7 ? " " $7 " " $8 : "")}' | sed 's#^\./#/#' >"$WORK/files"
cat "$WORK/info" "$WORK/files"
for f in /usr/bin/reap "/usr/bin/tractor-reap -> reap" /usr/share/man/man1/reap.1 \
  /usr/share/man/man1/tractor-reap.1 /usr/share/bash-completion/completions/reap \
  /usr/share/zsh/vendor-completions/_reap /usr/share/fish/vendor_completions.d/reap.fish \
  /usr/lib/systemd/system/reap-sweep.service /usr/lib/systemd/system/reap-sweep.timer \
  /usr/lib/systemd/system/reap-sweep@.service /usr/lib/systemd/user/reap-sweep.service \
  /usr/lib/systemd/user/reap-sweep.timer /usr/include/reap/os/proc_scan.hpp \
  /usr/include/reap/core/shm_policy.hpp /usr/include/reap/util/fd.hpp; do
  grep -qxF -- "$f" "$WORK/files" || fail "the .deb lacks $f"
done
for lib in reap_core reap_os; do
  grep -qE "^/usr/lib/(x86_64-linux-gnu/)?lib$lib.a\$" "$WORK/files" || fail "no lib$lib.a"
done
! grep -q 'libreap_cli' "$WORK/files" || fail "the .deb installs the CLI's library"
! grep -q '^/usr/include/reap/cli' "$WORK/files" || fail "the .deb installs the CLI's headers"
grep -qE '^/usr/lib/(x86_64-linux-gnu/)?cmake/reap/reapConfig.cmake$' "$WORK/files" || fail "no CMake package"
grep -qE '^/usr/lib/(x86_64-linux-gnu/)?pkgconfig/reap.pc$' "$WORK/files" || fail "no reap.pc"
! grep -q "$WORK" "$WORK/files" || fail "the staging dir leaks into the file list"
depends=$(sed -n 's/^ Depends: //p' "$WORK/info")
# Every shared library reap links must come from a package named in Depends.
dpkg-deb -x "$deb" "$WORK/root"
grep -q "^ExecStart=/usr/bin/reap " "$WORK/root/usr/lib/systemd/system/reap-sweep.service" ||
  fail "the packaged unit does not run /usr/bin/reap"
for lib in $(ldd "$WORK/root/usr/bin/reap" | awk '/=>/ {print $3}'); do
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
    pkg=$(dpkg -S "$lib" | head -1 | cut -d: -f1)
  [[ -n $pkg ]] || fail "no package owns $lib"
  sed 's/ ([^)]*)//g; s/ *| */\n/g; s/, /\n/g' <<<"$depends" | grep -qxF -- "$pkg" ||
    fail "Depends ($depends) lacks $pkg (for $lib)"
done
apt-get install -s "$deb" >"$WORK/sim" 2>&1 || { cat "$WORK/sim" >&2; fail "apt-get -s install"; }
if [[ ${REAP_TEST_DPKG:-0} == 1 ]]; then
  dpkg-query -W reap >/dev/null 2>&1 && skip "a reap package is already installed here"
  dpkg -i "$deb" >/dev/null || fail "dpkg -i"
  /usr/bin/reap --version >/dev/null || fail "installed reap does not run"
  dpkg -r reap >/dev/null || fail "dpkg -r"
  [[ ! -e /usr/bin/reap && ! -e /usr/bin/tractor-reap ]] || fail "dpkg -r left files"
fi
echo "deb ok: Depends: $depends"
