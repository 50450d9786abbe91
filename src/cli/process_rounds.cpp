#include "cli/process_rounds.hpp"

#include <chrono>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "cli/grace_status.hpp"

namespace reap::cli {
namespace {

/// Rounds of signalling after which a still-growing tree is left alone (fork bomb).
constexpr int kMaxRounds = 8;
/// Bounded waits for targets too young to be pinned exactly (ProcessPlanItem::defer) and for
/// processes the policy cannot judge yet.
constexpr int kMaxSettleWaits = 25;
constexpr auto kSettleWait = std::chrono::milliseconds(10);

void mark(const Rounds& r, const char* step) {
  if (r.mark) r.mark(step);
}

}  // namespace

bool reap_in_rounds(const Rounds& r, const os::Snapshot& first,
                    std::vector<core::ProcessPlanItem> plan, core::Report& report) {
  os::Snapshot snap;  // the latest rescan; `first` until there is one
  const os::Snapshot* current = &first;
  os::EscalationOptions esc = r.escalation;
  GraceStatus status;  // draws nothing unless stderr is a terminal
  if (r.live_status) esc.on_wait = status.callback();
  const double grace = esc.grace_seconds;
  std::set<std::pair<pid_t, unsigned long long>> handled;
  std::set<pid_t> kept_reported;
  bool signalled = false;
  int rounds = 0, settle_waits = 0;
  for (;;) {
    if (r.on_snapshot) r.on_snapshot(*current);
    std::vector<os::SignalTarget> targets;
    std::vector<const core::ProcessPlanItem*> target_items;
    std::vector<const core::ProcessPlanItem*> deferred;
    for (const auto& item : plan) {
      if (handled.count({item.pid, item.starttime})) continue;
      if (item.verdict == core::ProcessVerdict::Kept) {
        if (kept_reported.insert(item.pid).second)
          report.processes.push_back(core::describe_plan(item, grace));
        continue;
      }
      if (item.defer) {
        deferred.push_back(&item);
        continue;
      }
      handled.insert({item.pid, item.starttime});
      targets.push_back(
          {item.pid, item.starttime, item.verdict == core::ProcessVerdict::Kill, item.pidfd});
      target_items.push_back(&item);
      if (r.on_target) r.on_target(item, *current);
    }
    const bool waiting = !deferred.empty() || (r.unsettled && r.unsettled());
    if (targets.empty() && (!waiting || settle_waits >= kMaxSettleWaits)) {
      for (const auto* item : deferred) {  // never pinned exactly: not signalled
        auto kept = core::describe_plan(*item, grace);
        kept.verdict = core::ProcessVerdictWord::Kept;
        kept.reason = r.deferred_reason;
        report.processes.push_back(std::move(kept));
      }
      break;
    }
    if (!targets.empty()) {
      if (++rounds > kMaxRounds) {
        for (const auto* item : target_items) {
          auto kept = core::describe_plan(*item, grace);
          kept.verdict = core::ProcessVerdictWord::Kept;
          kept.reason = fmt::format(
              "not signalled: the process tree was still growing after {} rounds (fork bomb?)",
              kMaxRounds);
          report.processes.push_back(std::move(kept));
        }
        break;
      }
      mark(r, "plan");
      auto outcomes = os::escalate(targets, esc);
      status.clear();
      mark(r, "signal and wait");
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        signalled |= outcomes[i].sent_sigint || outcomes[i].sent_sigkill;
        report.processes.push_back(core::describe_outcome(*target_items[i], outcomes[i], grace));
      }
      report.acted |= signalled;
    } else {
      ++settle_waits;
      std::this_thread::sleep_for(kSettleWait);
    }
    os::ScanOptions scan;
    scan.proc_root = esc.proc_root;
    scan.threads = r.scan_threads;
    scan.pin = true;
    snap = os::scan_proc(scan);
    mark(r, "rescan");
    current = &snap;
    plan = r.replan(snap);
  }
  return signalled;
}

}  // namespace reap::cli
