// Which processes are leaked: orphan mode and descendant mode, over a Snapshot. Decides
// only; signalling is os/signaller's job.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "os/proc_scan.hpp"

namespace reap::core {

struct ProcessSelection {
  enum class Mode { Orphan, Descendant };
  Mode mode = Mode::Orphan;
  pid_t parent = 0;                ///< descendant mode: the subtree root (never a target)
  uid_t uid = 0;                   ///< only processes with this effective uid are targets
  std::optional<os::DevIno> cwd;   ///< orphan mode: the cwd a root must have
  std::vector<std::string> match;  ///< orphan mode: the program must contain one of these
  std::vector<pid_t> adopters;     ///< orphan mode: adopters besides PID 1 and subreapers
  pid_t self = 0;                  ///< reap's own pid: it and its ancestors are never taken
};

enum class ProcessVerdict {
  Reap,  ///< SIGINT, grace, SIGKILL
  Kill,  ///< ignores SIGINT: SIGKILL at once
  Kept,  ///< in the tree but not ours to signal (`reason` says why)
};

struct ProcessPlanItem {
  pid_t pid = 0;
  unsigned long long starttime = 0;
  std::string comm;
  std::string cmdline;
  ProcessVerdict verdict = ProcessVerdict::Kept;
  std::string reason;
  std::shared_ptr<util::UniqueFd> pidfd;  ///< from the snapshot, when it pinned processes
  /// Too young to be pinned exactly by pidfd_open + start time, and the scan holds no pidfd
  /// for it: not to be signalled in this round (a later scan sees it older).
  bool defer = false;
};

/// Orphan adopters in `snap`: PID 1, `extra`, and, as a heuristic for the `systemd --user`
/// subreaper (the kernel does not show PR_SET_CHILD_SUBREAPER of others), a process named
/// systemd whose effective uid is `uid` (not root) and whose arguments include `--user`.
std::set<pid_t> adopters_of(const os::Snapshot& snap, uid_t uid, const std::vector<pid_t>& extra);

/// reap's own pid and the chain of its ancestors up to PID 1, as the snapshot shows them.
std::set<pid_t> self_and_ancestors(const os::Snapshot& snap, pid_t self);

/// Why `--parent pid` must be refused, or nullopt when it is acceptable: a missing pid,
/// PID 1, reap itself, or an ancestor of reap.
std::optional<std::string> refuse_parent(const os::Snapshot& snap, pid_t parent, pid_t self);

/// A process already signalled in an earlier round.
struct KnownMember {
  pid_t pid;
  unsigned long long starttime;
  pid_t pgrp;
  std::string exe;  ///< /proc/PID/exe as read (orphan mode), for the same-program rule
};

/// What a rescan knows from the rounds before it.
struct RescanContext {
  std::vector<KnownMember> known;
  /// (pid, starttime) of every process in every earlier snapshot: "new" means absent here.
  std::set<std::pair<pid_t, unsigned long long>> seen;
  /// Filled by plan_processes: new processes, adopted, of the uid, in the orphan-mode cwd,
  /// whose program does not match (yet) and that cannot be judged yet: mid-exec (no cmdline
  /// to read) or younger than 50 ms (between the execs of a chain). The caller takes
  /// another round rather than end with them.
  std::vector<pid_t> unsettled;
  /// Boot-relative tick at which the first signal was sent; 0 before that.
  unsigned long long reaping_since = 0;
};

/// The plan for one round: every member of the leaked trees, each with its verdict,
/// ordered by pid. Zombies and kernel threads never appear (they are gone / not ours).
/// On a rescan, a process also joins when its parent is a known member (same start time:
/// not a reused pid), or (heuristics for a child forked while its parent was dying, then
/// orphaned) when it is owned by the uid, adopted (by PID 1 or an adopter) and either new
/// since the earlier scans and in the process group of a known member, or (orphan mode)
/// started after the first signal, in the orphan-mode cwd, and running the same executable
/// as a known member (a double fork that called setsid() leaves no other trace).
std::vector<ProcessPlanItem> plan_processes(const os::Snapshot& snap, const ProcessSelection& sel,
                                            RescanContext* rescan = nullptr);

/// The processes whose status and cwd plan_processes will read: in orphan mode the
/// children of adopters, in descendant mode the subtree. (So the caller can read them ahead,
/// in parallel; plan_processes reads whatever is still missing itself. cmdline and exe are
/// read only for those that pass the cheap tests: cmdline reads the target's memory.)
std::vector<const os::ProcessInfo*> detail_candidates(const os::Snapshot& snap,
                                                      const ProcessSelection& sel);

/// Orphan mode's cheap tests, in order: owned by sel.uid (reads status), in sel.cwd (reads
/// cwd). Only a process that passes them has its cmdline and exe read (plan_processes, or a
/// caller reading ahead).
bool in_orphan_scope(const os::Snapshot& snap, const os::ProcessInfo& p,
                     const ProcessSelection& sel);

}  // namespace reap::core
