// Which shm segments are orphaned: decides over a directory listing and a Snapshot,
// with a verdict and a reason for every entry. Unlinking is os/shm_dir's job.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"

namespace reap::core {

struct ShmPolicy {
  uid_t uid = 0;                      ///< only this owner's segments are candidates
  std::optional<double> min_age;      ///< keep segments changed more recently (seconds)
  double now = 0;                     ///< wall-clock seconds, compared with mtime/ctime
  bool ignore_uninspectable = false;  ///< the one explicit override of failing closed
  std::set<pid_t> discounted;         ///< holders about to be reaped (dry run: planned)
};

enum class ShmVerdict { Unlink, Kept, Skipped };

struct ShmPlanItem {
  std::string name;
  ShmVerdict verdict = ShmVerdict::Kept;
  std::string reason;
  std::optional<pid_t> holder;  ///< the process that holds it or blocks it
  os::DevIno id;
  uid_t uid = 0;
  off_t size = 0;
};

/// Could `p` (which reap could not inspect) hold the segment described by `st`? True when
/// it could open it without privilege: one of its uids owns it, or the mode's group bits
/// admit one of its gids/groups, or the other bits admit anyone. With no status: true,
/// unless the owner of its /proc directory is known (hidepid), which rules out only the
/// private (owner-only) segments of other owners.
bool could_open(const os::ProcessInfo& p, const os::FileStat& st);

/// The verdict for every entry, in listing order. Rules, first match wins: not a regular
/// file: skipped; other owner: kept; held by fd or mapping: kept (names the pid); changed
/// within min_age: kept; an uninspectable process could open it: kept (names the pid);
/// otherwise unlink.
std::vector<ShmPlanItem> plan_shm(const std::vector<os::DirEntry>& entries,
                                  const os::Snapshot& snap, const ShmPolicy& policy);

/// The uninspectable processes that could open at least one of the owner's segments.
std::vector<const os::ProcessInfo*> blocking_uninspectable(const std::vector<os::DirEntry>& entries,
                                                           const os::Snapshot& snap,
                                                           const ShmPolicy& policy);

}  // namespace reap::core
