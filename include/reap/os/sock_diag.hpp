// Which files unix-domain sockets are bound to, from the kernel's socket table
// (NETLINK_SOCK_DIAG with UDIAG_SHOW_VFS), per network namespace. A socket file is "live"
// when its (device, inode) is in this set: no name heuristic, no connect() probe (which
// would call a bound-but-not-listening or a datagram socket stale).
#pragma once

#include <sys/types.h>

#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "os/dev_ino.hpp"
#include "os/proc_scan.hpp"

namespace reap::os {

using DevInoSet = std::unordered_set<DevIno, DevInoHash>;

/// The kernel's encoding of a device number in udiag_vfs_dev (major << 20 | minor) as the
/// dev_t that stat() reports.
dev_t kernel_dev_to_dev(unsigned kdev);

/// Adds to `out` the identity of every file that a unix socket in the calling thread's
/// network namespace is bound to. Returns 0, or the errno of the failing call (the set is
/// then incomplete and must not be trusted).
int bound_unix_files(DevInoSet& out);

/// The same inside the network namespace open as `nsfd` (a /proc/PID/ns/net fd): a
/// short-lived thread enters it with setns (needs CAP_SYS_ADMIN over it) and queries there.
/// Returns 0 or the errno (EPERM: not permitted to enter).
int bound_unix_files_in(int nsfd, DevInoSet& out);

/// Every network namespace that the processes of `snap` are in, queried.
struct NetnsSurvey {
  DevInoSet bound;  ///< union over the queried namespaces
  /// A process whose namespace could not be queried (or not even named): any socket file
  /// it could have bound is unverifiable.
  struct Blocker {
    pid_t pid = 0;
    std::string comm;
    std::string reason;
    std::optional<std::array<uid_t, 4>> uids;  ///< from /proc/PID/status, when readable
    std::optional<uid_t> owner_hint;           ///< owner of /proc/PID when status is not
  };
  std::vector<Blocker> blockers;
  std::size_t namespaces = 0;  ///< distinct namespaces queried
  int own_errno = 0;           ///< nonzero when reap's own namespace could not be queried
};

/// Queries reap's own namespace and that of every process in `snap` (each namespace once,
/// entered through the first process found in it). `proc_root` is the procfs to read.
NetnsSurvey survey_unix_sockets(const Snapshot& snap, const std::string& proc_root);

}  // namespace reap::os
