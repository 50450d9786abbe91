// Escalating termination through pidfds: SIGINT (+SIGCONT), a bounded grace, SIGKILL, a
// bounded wait. Signals only the process that was looked at: each pidfd is checked against
// the start time recorded in the snapshot before anything is sent.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/fd.hpp"

namespace reap::os {

struct SignalTarget {
  pid_t pid = 0;
  unsigned long long starttime = 0;  ///< from the snapshot; a mismatch means "not ours"
  bool ignores_sigint = false;       ///< SIGINT is in SigIgn: SIGKILL at once
  /// The pidfd the scan opened before reading this process's stat, if any (see
  /// ScanOptions::pin). Without it escalate opens one and relies on the start time alone,
  /// which has clock-tick (10 ms) resolution.
  std::shared_ptr<util::UniqueFd> pidfd;
};

enum class TargetResult {
  Reaped,    ///< exited after SIGINT within the grace
  Killed,    ///< needed SIGKILL and is gone
  Survived,  ///< still there after SIGKILL and the bounded wait (e.g. D state)
  Gone,      ///< exited, or its pid now names another process, before any signal
  Failed,    ///< pidfd_open or pidfd_send_signal failed for another reason (`err`)
};

struct TargetOutcome {
  SignalTarget target;
  TargetResult result = TargetResult::Failed;
  bool sent_sigint = false;
  bool sent_sigkill = false;
  double seconds = 0;             ///< from the first signal until exit was seen
  char final_state = '?';         ///< for Survived: the state letter read from /proc
  bool identity_changed = false;  ///< Gone because the pid was reused
  int err = 0;
};

struct EscalationOptions {
  double grace_seconds = 3.0;      ///< after SIGINT, before SIGKILL
  double kill_wait_seconds = 2.0;  ///< after SIGKILL, before "survived"
  std::string proc_root = "/proc";
  /// If set, called about every 200 ms during each wait (for a live status line): targets
  /// still alive, seconds until the wait ends, and whether SIGKILL follows that end.
  std::function<void(std::size_t alive, double seconds_left, bool sigkill_next)> on_wait;
};

/// Signals every target and waits, as described above, all targets concurrently.
/// Blocks at most about grace + kill_wait seconds. The returned outcomes are in the order
/// of `targets`.
std::vector<TargetOutcome> escalate(const std::vector<SignalTarget>& targets,
                                    const EscalationOptions& options);

/// Raises the soft RLIMIT_NOFILE to the hard limit: one pidfd per target is held open.
void raise_fd_limit();

}  // namespace reap::os
