// Which SysV shared-memory segments are orphaned: decides over /proc/sysvipc/shm (os/sysvipc)
// with a verdict and reason for each of the owner's segments.
#pragma once

#include <functional>
#include <vector>

#include "core/sweep.hpp"
#include "os/sysvipc.hpp"

namespace reap::core {

/// The name a segment goes by in reports: "shmid N key 0xK".
std::string sysv_name(const os::SysvShmSegment& s);

/// Candidates are the segments whose owner or creator is context.uid. Rules, first match
/// wins: other owner and creator: left out; marked for destruction: kept (the kernel frees
/// it at the last detach); attached (nattch > 0): kept; creator pid alive (or unknown, 0:
/// it lives in a PID namespace reap cannot see): kept; last-attach pid alive: kept; changed
/// within min_age: kept; else remove.
std::vector<SweepItem> plan_sysv(const std::vector<os::SysvShmSegment>& segments,
                                 const SweepContext& context,
                                 const std::function<bool(pid_t)>& is_alive);

}  // namespace reap::core
