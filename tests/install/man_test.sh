#!/usr/bin/env bash
# The installed man pages render without warnings, and reap.1 covers every option that
# `reap --help` and `reap run --help` list (and tractor-reap.1 every flag of the front).
. "$(dirname "$0")/common.sh"
install_prefix
for page in reap tractor-reap; do
  out=$(MANWIDTH=80 man --warnings -l "$PREFIX/share/man/man1/$page.1" 2>"$WORK/$page.err") ||
    fail "man -l $page.1"
  [[ ! -s $WORK/$page.err ]] || { cat "$WORK/$page.err" >&2; fail "man -l $page.1 warns"; }
  [[ $out == *NAME* && $out == *SYNOPSIS* ]] || fail "$page.1 has no NAME/SYNOPSIS"
done
reap_page=$(MANWIDTH=200 man -l "$PREFIX/share/man/man1/reap.1" 2>/dev/null)
opts=$({ "$PREFIX/bin/reap" --help; "$PREFIX/bin/reap" run --help; } | grep -oE -- '--[a-z][a-z-]+' | sort -u)
for o in $opts; do
  grep -qF -- "$o" <<<"$reap_page" || fail "reap.1 does not mention $o"
done
for section in "EXIT STATUS" SAFETY ENVIRONMENT EXAMPLES "reap run"; do
  grep -qF -- "$section" <<<"$reap_page" || fail "reap.1 has no $section"
done
tr_page=$(MANWIDTH=200 man -l "$PREFIX/share/man/man1/tractor-reap.1" 2>/dev/null)
for o in $("$PREFIX/bin/tractor-reap" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  grep -qF -- "$o" <<<"$tr_page" || fail "tractor-reap.1 does not mention $o"
done
echo "man pages ok ($(wc -w <<<"$opts") options checked)"
