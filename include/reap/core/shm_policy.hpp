// Which shm segments are orphaned: decides over a directory listing and a Snapshot,
// with a verdict and a reason for every entry. Unlinking is os/shm_dir's job.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/sweep.hpp"
#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"

namespace reap::core {

struct ShmPolicy {
  uid_t uid = 0;                      ///< only this owner's segments are candidates
  std::optional<double> min_age;      ///< keep segments changed more recently (seconds)
  double now = 0;                     ///< wall-clock seconds, compared with mtime/ctime
  bool ignore_uninspectable = false;  ///< the one explicit override of failing closed
  std::set<pid_t> discounted;         ///< holders about to be reaped (dry run: planned)
  /// Set when an entry's lstat may come after the /proc scan began (a large sweep lstats
  /// each entry once, right before its unlink): the wall-clock time (CLOCK_REALTIME_COARSE,
  /// the clock tmpfs stamps with) taken before the listing. An entry whose ctime is not
  /// before it is kept as too new: creation, rename and link all set ctime, so only a ctime
  /// before the scan proves the file was there, under this name, when the scan began (and
  /// a process that held it then was seen holding it).
  std::optional<struct timespec> listed_at;
  /// Set when the holder index watched this device alone (no identities): a file on another
  /// one (mounted over an entry) has holders it does not know of, and is kept.
  std::optional<dev_t> watched_dev;
};

/// The policy for a sweep's context (the shm and mqueue sweeps decide by it).
ShmPolicy shm_policy_for(const SweepContext& context);

enum class ShmVerdict { Unlink, Kept, Skipped };

/// The reason of an entry kept by ShmPolicy::listed_at.
inline constexpr const char* kChangedSinceListing =
    "changed after the listing began (too new to judge: a process may have opened it after "
    "the scan read that process)";

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

/// Whether `st` changed at or after `listed_at` (ShmPolicy::listed_at), that time moved back
/// by `stepped_back_ns` when the wall clock stepped back since the listing (ctimes made after
/// the step are older than the time taken before it).
bool changed_since_listing(const os::FileStat& st, const struct timespec& listed_at,
                           long long stepped_back_ns = 0);

/// The uninspectable processes a plan fails closed on (none with ignore_uninspectable; the
/// discounted ones left out).
std::vector<const os::ProcessInfo*> uninspectable_for(const os::Snapshot& snap,
                                                      const ShmPolicy& policy);

/// The verdict for one entry (`name`; `st`, or the lstat's errno in `stat_errno`), by the
/// rules of plan_shm; `uninspectable` from uninspectable_for.
ShmPlanItem judge_shm(std::string_view name, const os::FileStat& st, int stat_errno,
                      const os::Snapshot& snap, const ShmPolicy& policy,
                      const std::vector<const os::ProcessInfo*>& uninspectable);

/// The verdict for every entry, in listing order. Rules, first match wins: not a regular
/// file: skipped; other owner: kept; held by fd or mapping: kept (names the pid); changed
/// since ShmPolicy::listed_at: kept (too new); changed within min_age: kept; an
/// uninspectable process could open it: kept (names the pid); on another device than
/// ShmPolicy::watched_dev: kept; otherwise unlink.
std::vector<ShmPlanItem> plan_shm(const std::vector<os::DirEntry>& entries,
                                  const os::Snapshot& snap, const ShmPolicy& policy);

/// The uninspectable processes that could open at least one of the owner's segments.
std::vector<const os::ProcessInfo*> blocking_uninspectable(const std::vector<os::DirEntry>& entries,
                                                           const os::Snapshot& snap,
                                                           const ShmPolicy& policy);

/// The pids of blocking_uninspectable, whatever policy.ignore_uninspectable says (the report
/// names them either way).
std::set<pid_t> blocker_pids(const std::vector<os::DirEntry>& entries, const os::Snapshot& snap,
                             ShmPolicy policy);

/// Adds `holder` to `out` when the snapshot shows it exiting (os::ProcessInfo::exiting): a
/// verdict that waits on it is worth judging again once it is gone (os::settle_exiting).
void add_if_exiting(const os::Snapshot& snap, std::optional<pid_t> holder, std::set<pid_t>& out);

}  // namespace reap::core
