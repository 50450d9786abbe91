// The run's report: every candidate with its verdict and reason, and the exit code they
// imply. Built from plans and outcomes; rendered by cli/output.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/process_policy.hpp"
#include "core/shm_items.hpp"
#include "core/shm_policy.hpp"
#include "core/sweep.hpp"
#include "os/shm_dir.hpp"
#include "os/signaller.hpp"

namespace reap::core {

enum class ProcessVerdictWord { Reaped, Killed, Survived, Gone, WouldReap, WouldKill, Kept, Error };

struct ProcessReportItem {
  pid_t pid = 0;
  std::string comm;
  std::string cmdline;  ///< raw, NUL-separated
  ProcessVerdictWord verdict = ProcessVerdictWord::Kept;
  std::string reason;
  std::vector<std::string> signals;
  std::optional<double> seconds;
};

struct UninspectableItem {
  pid_t pid = 0;
  std::string comm;
  std::optional<uid_t> uid;
  std::string reason;
  bool blocked_something = false;
};

struct Report {
  bool dry_run = false;
  uid_t uid = 0;
  bool process_phase = false;
  std::string mode;  ///< "orphan" or "descendant"
  std::vector<ProcessReportItem> processes;
  bool shm_phase = false;
  std::string shm_dir;
  ShmItems shm;  ///< compact: a sweep may report 1,000,000 (core/shm_items)
  std::vector<UninspectableItem> uninspectable;
  /// Something was done: a signal sent or an unlink attempted. An error after that is
  /// reported with this report and exit 1, never as "exit 2, nothing acted on".
  bool acted = false;
  /// `reap run`: CMD's exit status (128+N when signal N ended it).
  std::optional<int> command_status;
  /// The exit code reap returns, when it differs from exit_code() (`reap run`).
  std::optional<int> final_exit_code;
  std::vector<SweepReport> sweeps;     ///< uds, mqueue, sysv (core/sweep.hpp), in order
  std::vector<UnlinkedItem> unlinked;  ///< unlinked but still held, in the swept file systems

  /// 1 when a process needed SIGKILL or survived or could not be signalled, or an unlink
  /// failed; else 0.
  int exit_code() const;
  std::size_t count(ProcessVerdictWord v) const;
  std::size_t count(ShmVerdictWord v) const;
  std::size_t count(const std::string& kind, SweepVerdictWord v) const;
};

const char* word(ProcessVerdictWord v);
const char* word(ShmVerdictWord v);

/// The report line for one planned process (dry run, or kept).
ProcessReportItem describe_plan(const ProcessPlanItem& item, double grace_seconds);

/// The report line for one signalled process.
ProcessReportItem describe_outcome(const ProcessPlanItem& item, const os::TargetOutcome& outcome,
                                   double grace_seconds);

/// The report line for one shm entry: its plan and, when acted on, what unlink did.
ShmReportItem describe_shm(ShmPlanItem&& item, bool dry_run,
                           const std::optional<os::UnlinkOutcome>& outcome);

}  // namespace reap::core
