#!/usr/bin/env bash
# The installed completions load: bash registers both commands and completes options and
# values; zsh and fish parse theirs.
. "$(dirname "$0")/common.sh"
install_prefix
comp=$PREFIX/share/bash-completion/completions
bash -c ". '$comp/reap' && complete -p reap" | grep -q -- '-F _reap reap' || fail "complete -p reap"
bash -c ". '$comp/tractor-reap' && complete -p tractor-reap" | grep -q tractor-reap ||
  fail "complete -p tractor-reap"
got=$(bash -c ". '$comp/reap'; COMP_WORDS=(reap --shm-o); COMP_CWORD=1; _reap; echo \${COMPREPLY[*]}")
[[ $got == --shm-only ]] || fail "bash completes --shm-o to '$got'"
got=$(bash -c ". '$comp/reap'; COMP_WORDS=(reap --color ''); COMP_CWORD=2; _reap; echo \${COMPREPLY[*]}")
[[ $got == "auto always never" ]] || fail "bash completes --color to '$got'"
if command -v zsh >/dev/null; then zsh -n "$PREFIX/share/zsh/vendor-completions/_reap" || fail "zsh -n"; fi
if command -v fish >/dev/null; then
  for f in "$PREFIX"/share/fish/vendor_completions.d/*.fish; do fish -n "$f" || fail "fish -n $f"; done
  fish -c "source $PREFIX/share/fish/vendor_completions.d/reap.fish; complete -C 'reap --shm-o'" |
    grep -q -- --shm-only || fail "fish completes --shm-o"
fi
echo "completions ok"
