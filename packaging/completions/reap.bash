# bash completion for reap and tractor-reap (installed under both names, so that
# bash-completion loads it on demand for either command).

_reap() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
  fi
  local i
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ ${COMP_WORDS[i]} == -- ]]; then  # reap run ... -- CMD: complete the command
      COMPREPLY=($(compgen -c -- "$cur"))
      return
    fi
  done
  case $prev in
    -p | --parent | --adopter)
      COMPREPLY=($(compgen -W "$(ps -o pid= -u "$(id -u)" 2>/dev/null)" -- "$cur"))
      return ;;
    --shm-dir | --cwd | --uds-dir | --mqueue-dir)
      COMPREPLY=($(compgen -d -- "$cur"))
      return ;;
    --log-json | --metrics-file)
      COMPREPLY=($(compgen -f -- "$cur"))
      return ;;
    --uid)
      COMPREPLY=($(compgen -u -- "$cur"))
      return ;;
    --color)
      COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
      return ;;
    -g | --grace | --kill-wait | --min-age | --match)
      return ;;
  esac
  local opts="-h --help -V --version -p --parent -g --grace --kill-wait -n --dry-run --check
    --shm --shm-only --shm-dir --uid --cwd --match --adopter --min-age --ignore-uninspectable
    --allow-root-cwd --allow-any-fs --uds --uds-only --uds-dir --mqueue --mqueue-only --mqueue-dir --sysv
    --sysv-only
    --json --log-json --metrics-file --color"
  if [[ " ${COMP_WORDS[*]} " == *" run "* ]]; then
    opts="$opts --fail-on-leak --"
  elif [[ $cur != -* ]]; then
    opts="run"
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}

_tractor_reap() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  case $prev in
    -p | --parent)
      COMPREPLY=($(compgen -W "$(ps -o pid= -u "$(id -u)" 2>/dev/null)" -- "$cur"))
      return ;;
    -g | --grace) return ;;
  esac
  COMPREPLY=($(compgen -W "-h --help -p --parent -g --grace -n --dry-run --shm --shm-only
    --uds --uds-only" -- "$cur"))
}

complete -F _reap reap
complete -F _tractor_reap tractor-reap
