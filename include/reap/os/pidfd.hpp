// pidfd system calls (Linux 5.3+), which glibc 2.36 does not all wrap.
#pragma once

#include <sys/types.h>

namespace reap::os {

/// A close-on-exec pidfd for `pid` (its thread group), or -1 with errno (ESRCH: no such
/// process). The pidfd names that process for good: once it exits, signals sent through
/// the pidfd fail with ESRCH even if the pid is reused.
int pidfd_open(pid_t pid);

/// pidfd_send_signal(2) with no siginfo; 0 or -1 with errno.
int pidfd_send_signal(int pidfd, int sig);

}  // namespace reap::os
