// The process phase's rounds, shared by `reap` and `reap scope`: signal every target of the
// plan (SIGINT, grace, SIGKILL), scan /proc again, plan again, until a round finds nothing
// more to signal. Processes fork while dying, so one round is not enough; the number of
// rounds is bounded, so a fork bomb cannot keep reap busy for ever.
#pragma once

#include <functional>
#include <vector>

#include "core/process_policy.hpp"
#include "core/report.hpp"
#include "os/proc_scan.hpp"
#include "os/signaller.hpp"

namespace reap::cli {

struct Rounds {
  os::EscalationOptions escalation;  ///< grace, kill wait, /proc
  unsigned scan_threads = 1;         ///< for the rescans
  bool live_status = false;          ///< a status line on a terminal during the waits
  /// The plan for a fresh snapshot (the caller's policy). Required.
  std::function<std::vector<core::ProcessPlanItem>(const os::Snapshot&)> replan;
  /// Optional: each snapshot, before its plan is acted on.
  std::function<void(const os::Snapshot&)> on_snapshot;
  /// Optional: each item about to be signalled, with the snapshot it was planned from.
  std::function<void(const core::ProcessPlanItem&, const os::Snapshot&)> on_target;
  /// Optional: true when the policy wants another look although nothing is to be signalled
  /// now (processes it cannot judge yet).
  std::function<bool()> unsettled;
  /// Optional: phase marks for REAP_TRACE_PHASES.
  std::function<void(const char*)> mark;
  /// Why a target that was never pinned exactly is left alone.
  const char* deferred_reason = "could not be pinned by pidfd; not signalled";
};

/// Signals what `plan` (made from `first`) targets and what later rounds add, and appends
/// every outcome and every kept process (once) to `report.processes`. Returns whether any
/// signal was sent (also recorded in report.acted).
bool reap_in_rounds(const Rounds& rounds, const os::Snapshot& first,
                    std::vector<core::ProcessPlanItem> plan, core::Report& report);

}  // namespace reap::cli
