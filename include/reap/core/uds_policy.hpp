// Which unix-domain socket files are stale: decides over a directory listing and the
// kernel's table of bound sockets (os/sock_diag), with a verdict and reason for each entry.
#pragma once

#include <vector>

#include "core/sweep.hpp"
#include "os/shm_dir.hpp"
#include "os/sock_diag.hpp"

namespace reap::core {

/// Could the process described by `b` (in a network namespace reap could not query) have
/// bound the socket file `st`? bind() creates the file as the binder's uid, so: is the
/// file's owner one of its uids. Unknown uids: yes (unless its /proc owner is known and
/// differs).
bool could_bind(const os::NetnsSurvey::Blocker& b, const os::FileStat& st);

/// Rules, first match wins: not a socket file (regular file, symlink, ...): skipped; other
/// owner: kept; bound (same device and inode in the socket table): kept; changed within
/// min_age: kept; could have been bound in an unqueryable namespace: kept (names the pid);
/// else remove. A NAME@PID.sock name only adds a note; it never decides.
std::vector<SweepItem> plan_uds(const std::vector<os::DirEntry>& entries,
                                const os::NetnsSurvey& survey, const SweepContext& context,
                                const std::function<bool(pid_t)>& is_alive);

}  // namespace reap::core
