#!/usr/bin/env bash
# cmake --install to a temp prefix lays out every file the issue lists, the tractor-reap
# link, a version from project(), pkg-config, and units that name the installed binary.
. "$(dirname "$0")/common.sh"
install_prefix
cd "$PREFIX"
for f in bin/reap share/man/man1/reap.1 share/man/man1/tractor-reap.1 \
  share/bash-completion/completions/reap share/bash-completion/completions/tractor-reap \
  share/zsh/vendor-completions/_reap share/fish/vendor_completions.d/reap.fish \
  share/fish/vendor_completions.d/tractor-reap.fish \
  include/reap/os/proc_scan.hpp include/reap/core/shm_policy.hpp include/reap/util/fd.hpp \
  lib/libreap_core.a lib/libreap_os.a lib/cmake/reap/reapConfig.cmake \
  lib/cmake/reap/reapConfigVersion.cmake \
  lib/cmake/reap/reapTargets.cmake lib/pkgconfig/reap.pc \
  lib/systemd/system/reap-sweep.service lib/systemd/system/reap-sweep.timer \
  lib/systemd/system/reap-sweep@.service lib/systemd/system/reap-sweep@.timer \
  lib/systemd/user/reap-sweep.service lib/systemd/user/reap-sweep.timer; do
  [[ -e $f ]] || fail "missing $f"
done
[[ -L bin/tractor-reap && $(readlink bin/tractor-reap) == reap ]] || fail "bin/tractor-reap is not a link to reap"
[[ ! -e include/reap/cli ]] || fail "the CLI's headers are installed"
[[ ! -e lib/libreap_cli.a ]] || fail "the CLI's library is installed"
# Every public header of the source tree is installed, and nothing else under core/ os/ util/.
diff <(cd "$SRC/include/reap" && find core os util -name '*.hpp' | sort) \
  <(cd include/reap && find core os util -type f | sort) >&2 ||
  fail "include/reap/{core,os,util} differs from the source tree's (above: < source, > installed)"
# ... and none was left beside the .cpp files, where it would build in the tree but not install.
stray=$(cd "$SRC/src" && find core os util -name '*.hpp' 2>/dev/null)
[[ -z $stray ]] || fail "public headers under src/ (move them to include/reap/): $stray"
! grep -rq CLI11 lib/cmake/reap || fail "CLI11 leaks into the installed CMake package"
grep -q 'reap::core' lib/cmake/reap/reapTargets.cmake || fail "no reap::core target"
grep -q 'reap::os' lib/cmake/reap/reapTargets.cmake || fail "no reap::os target"
if [[ -e $BUILD/CMakeCache.txt ]] && grep -q '^GTest_DIR:PATH=/' "$BUILD/CMakeCache.txt"; then
  grep -q 'reap::gtest' lib/cmake/reap/reapTargets.cmake || fail "no reap::gtest target"
  [[ -e include/reap/gtest.hpp ]] || fail "missing include/reap/gtest.hpp"
fi
version=$(sed -n 's/^project(reap VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[[ $("$PREFIX/bin/reap" --version) == "reap $version" ]] || fail "reap --version is not $version"
grep -q "PACKAGE_VERSION \"$version\"" lib/cmake/reap/reapConfigVersion.cmake || fail "config version"
[[ $(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --modversion reap) == "$version" ]] ||
  fail "pkg-config version"
PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --cflags reap | grep -q -- "-I$PREFIX/include/reap" ||
  fail "pkg-config cflags"
for unit in lib/systemd/*/reap-sweep*.service; do
  grep -q "^ExecStart=$PREFIX/bin/reap " "$unit" || fail "$unit does not run $PREFIX/bin/reap"
done
echo "layout ok: $(find . -type f -o -type l | wc -l) files under the prefix"
