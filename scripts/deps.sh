#!/usr/bin/env bash
# Installs the Debian packages reap needs to build and test, when any is missing.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
pkgs=(build-essential cmake g++ clang libclang-rt-14-dev clang-format libcli11-dev libfmt-dev
      nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev util-linux git strace
      scdoc man-db pkgconf dpkg-dev systemd
      python3-pytest python3-pytest-xdist "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
