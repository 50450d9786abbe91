# fish completion for tractor-reap (reap's drop-in front).
complete -c tractor-reap -f
complete -c tractor-reap -s h -l help -d 'Show help and exit'
complete -c tractor-reap -s p -l parent -x -a '(__fish_complete_pids)' -d 'Descendant mode: the processes below PID'
complete -c tractor-reap -s g -l grace -x -d 'SIGINT grace window in seconds (default 3.0)'
complete -c tractor-reap -s n -l dry-run -d 'List matched pids and paths, act on nothing'
complete -c tractor-reap -l shm -d 'After the process phase, sweep orphaned /dev/shm segments'
complete -c tractor-reap -l shm-only -d 'Only the shm sweep'
complete -c tractor-reap -l uds -d 'After shm, sweep stale socket files'
complete -c tractor-reap -l uds-only -d 'Only the UDS sweep'
