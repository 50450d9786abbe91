#include "cli/app.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "cli/run_command.hpp"
#include "core/process_policy.hpp"
#include "core/report.hpp"
#include "core/shm_policy.hpp"
#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"
#include "os/signaller.hpp"
#include "util/parallel.hpp"

namespace reap::cli {
namespace {

/// With REAP_TRACE_PHASES set, each named step prints its duration to stderr (for bench/).
class PhaseTimer {
 public:
  PhaseTimer() : enabled_(std::getenv("REAP_TRACE_PHASES") != nullptr), last_(now()) {}
  void mark(const char* step) {
    if (!enabled_) return;
    double t = now();
    std::cerr << fmt::format("reap: phase {}: {:.2f} ms\n", step, (t - last_) * 1e3);
    last_ = t;
  }

 private:
  static double now() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  bool enabled_;
  double last_;
};
PhaseTimer g_phases;

/// Rescan rounds after the first: processes fork while dying; each round takes the new
/// members of the leaked trees. Bounded so a fork bomb cannot keep reap here forever.
constexpr int kMaxRounds = 8;

double wall_now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Threads pay off for the holder index (fd tables and maps of every process); a scan of
/// stat alone is faster in one thread (measured: 5 ms against 12-20 ms with two).
unsigned scan_threads(const Options& o, bool holders) {
  if (o.threads) return o.threads;
  if (!holders) return 1;
  return std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
}

/// The identities the holder index must answer for: the owner's regular files.
std::unordered_set<os::DevIno, os::DevInoHash> candidates(const std::vector<os::DirEntry>& entries,
                                                          uid_t uid) {
  std::unordered_set<os::DevIno, os::DevInoHash> ids;
  for (const auto& e : entries)
    if (!e.stat_errno && S_ISREG(e.st.st_mode) && e.st.st_uid == uid)
      ids.insert(os::identity(e.st));
  return ids;
}

core::ProcessSelection selection_from(const Options& o) {
  core::ProcessSelection sel;
  sel.self = ::getpid();
  if (o.command.size()) return sel;  // `reap run` selects its own subtree
  sel.mode =
      o.parent ? core::ProcessSelection::Mode::Descendant : core::ProcessSelection::Mode::Orphan;
  sel.parent = o.parent.value_or(0);
  sel.uid = o.uid;
  sel.match = o.match;
  sel.adopters = o.adopters;
  if (!o.parent) {
    struct stat st;
    if (::stat(o.cwd.c_str(), &st) != 0)
      throw Refusal(fmt::format("--cwd '{}': {}", o.cwd, std::strerror(errno)));
    sel.cwd = os::DevIno::of(st);
  }
  return sel;
}

/// The process phase's act step: rounds of escalate-then-rescan until no new member of a
/// leaked tree appears. Returns true when any signal was sent.
bool reap_processes(const Options& o, const core::ProcessSelection& sel, const os::Snapshot& first,
                    std::vector<core::ProcessPlanItem> plan, core::Report& report) {
  os::Snapshot snap;  // the latest rescan; `first` until there is one
  const os::Snapshot* current = &first;
  os::EscalationOptions esc{o.grace, o.kill_wait, o.proc_root};
  std::set<std::pair<pid_t, unsigned long long>> handled;
  std::set<pid_t> kept_reported;
  core::RescanContext context;
  bool signalled = false;
  for (int round = 0; round < kMaxRounds; ++round) {
    for (const auto& p : current->processes) context.seen.insert({p.pid, p.starttime});
    std::vector<os::SignalTarget> targets;
    std::vector<const core::ProcessPlanItem*> target_items;
    for (const auto& item : plan) {
      if (handled.count({item.pid, item.starttime})) continue;
      if (item.verdict == core::ProcessVerdict::Kept) {
        if (kept_reported.insert(item.pid).second)
          report.processes.push_back(core::describe_plan(item, o.grace));
        continue;
      }
      handled.insert({item.pid, item.starttime});
      targets.push_back(
          {item.pid, item.starttime, item.verdict == core::ProcessVerdict::Kill, item.pidfd});
      target_items.push_back(&item);
      const os::ProcessInfo* p = current->find(item.pid);
      context.known.push_back({item.pid, item.starttime, p ? p->pgrp : -1});
    }
    if (targets.empty()) break;
    g_phases.mark("plan");
    auto outcomes = os::escalate(targets, esc);
    g_phases.mark("signal and wait");
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      signalled |= outcomes[i].sent_sigint || outcomes[i].sent_sigkill;
      report.processes.push_back(core::describe_outcome(*target_items[i], outcomes[i], o.grace));
    }
    os::ScanOptions scan;
    scan.proc_root = o.proc_root;
    scan.threads = scan_threads(o, false);
    scan.pin = true;
    scan.defer_details = true;
    snap = os::scan_proc(scan);
    g_phases.mark("rescan");
    current = &snap;
    plan = core::plan_processes(snap, sel, &context);
  }
  return signalled;
}

}  // namespace

core::Report execute(const Options& o, const RunScope* scope) {
  const bool process_phase = !o.shm_only;
  const bool shm_phase = o.shm || o.shm_only;
  os::raise_fd_limit();

  core::Report report;
  report.dry_run = o.dry_run;
  report.uid = o.uid;
  report.process_phase = process_phase;
  report.shm_phase = shm_phase;

  // Scan: the directory is listed before /proc is read, so a segment created after the
  // listing is not a candidate, and one opened before the scan is seen as held.
  os::ShmDir own_dir;
  const os::ShmDir& dir = scope && scope->dir ? *scope->dir : own_dir;
  std::vector<os::DirEntry> entries;
  auto list_entries = [&] {
    entries = dir.list(scan_threads(o, true));
    if (scope)  // `reap run`: only what appeared during the run is its leak
      std::erase_if(entries, [&](const os::DirEntry& e) {
        return scope->preexisting.count(os::identity(e.st)) > 0;
      });
  };
  if (shm_phase) {
    std::string error;
    if (!(scope && scope->dir) && !own_dir.open(o.shm_dir, error)) throw Refusal(error);
    list_entries();
    report.shm_dir = o.shm_dir;
  }
  core::ProcessSelection sel;
  if (process_phase) sel = selection_from(o);
  if (scope) {  // `reap run`: reap is the subreaper; what is left below it leaked
    sel.mode = core::ProcessSelection::Mode::Descendant;
    sel.parent = sel.self;
  }
  os::ScanOptions scan;
  scan.proc_root = o.proc_root;
  scan.process_details = process_phase;
  scan.pin = process_phase && !o.dry_run;
  scan.defer_details = process_phase;
  scan.threads = scan_threads(o, shm_phase);
  scan.maps_query = !o.maps_text;
  if (shm_phase) scan.watch = candidates(entries, o.uid);
  g_phases.mark("list");
  os::Snapshot snap = os::scan_proc(scan);
  g_phases.mark("scan");
  if (snap.unreadable)
    std::cerr << fmt::format(
        "reap: warning: {} processes could not be read ({}); the process phase cannot see "
        "them and the sweep keeps every segment they could hold; raise the limit (ulimit -n)\n",
        snap.unreadable, snap.unreadable_reason);

  // Classify and plan the process phase; refusals come before anything is acted on.
  std::vector<core::ProcessPlanItem> process_plan;
  std::set<pid_t> planned_targets;
  if (process_phase) {
    if (o.parent)
      if (auto why = core::refuse_parent(snap, *o.parent, sel.self)) throw Refusal(*why);
    report.mode = scope ? "run" : o.parent ? "descendant" : "orphan";
    // Read ahead, on two threads, what the plan will ask of the likely candidates: each
    // ProcessInfo is filled by one thread only.
    auto ahead = core::detail_candidates(snap, sel);
    util::parallel_for(
        ahead.size(), scan_threads(o, true),
        [&](std::size_t i) {
          snap.cwd_of(*ahead[i]);
          snap.cmdline_of(*ahead[i]);
          snap.status_of(*ahead[i]);
        },
        64);
    process_plan = core::plan_processes(snap, sel);
    for (const auto& item : process_plan)
      if (item.verdict != core::ProcessVerdict::Kept) planned_targets.insert(item.pid);
  }

  // Act on processes.
  bool signalled = false;
  if (process_phase) {
    if (o.dry_run) {
      for (const auto& item : process_plan)
        report.processes.push_back(core::describe_plan(item, o.grace));
    } else {
      signalled = reap_processes(o, sel, snap, process_plan, report);
    }
  }

  // Shm phase. After a real reap the holder index is stale (holders died, time passed):
  // list and scan again so the sweep judges the present, not the past.
  if (shm_phase) {
    if (signalled) {
      list_entries();
      os::ScanOptions rescan = scan;
      rescan.process_details = false;
      rescan.pin = false;
      rescan.defer_details = false;
      rescan.watch = candidates(entries, o.uid);
      snap = os::scan_proc(rescan);
    }
    core::ShmPolicy policy;
    policy.uid = o.uid;
    policy.min_age = o.min_age;
    policy.now = wall_now();
    policy.ignore_uninspectable = o.ignore_uninspectable;
    if (o.dry_run) policy.discounted = planned_targets;  // they would be gone by then
    // Who blocks what is worked out before the listing is let go: a sweep of 100,000
    // entries should not hold the listing, the plan and the report all at once.
    core::ShmPolicy blocking = policy;
    blocking.ignore_uninspectable = false;
    auto blockers = core::blocking_uninspectable(entries, snap, blocking);
    auto plan = core::plan_shm(entries, snap, policy);
    std::vector<os::DirEntry>().swap(entries);
    report.shm.reserve(plan.size());
    // Act: each re-check and unlink is independent of the others. (Unlinks in one
    // directory serialise on its lock in the kernel; the re-checks overlap with them.)
    std::vector<std::optional<os::UnlinkOutcome>> outcomes(plan.size());
    if (!o.dry_run)
      util::parallel_for(plan.size(), scan_threads(o, true), [&](std::size_t i) {
        if (plan[i].verdict == core::ShmVerdict::Unlink)
          outcomes[i] = dir.unlink_if_same(plan[i].name, plan[i].id);
      });
    for (std::size_t i = 0; i < plan.size(); ++i)
      report.shm.push_back(core::describe_shm(std::move(plan[i]), o.dry_run, outcomes[i]));
    std::vector<core::ShmPlanItem>().swap(plan);
    std::set<pid_t> blocker_pids;
    for (const auto* p : blockers) blocker_pids.insert(p->pid);
    for (const auto* p : snap.uninspectable()) {
      core::UninspectableItem u{p->pid, p->comm, std::nullopt, p->uninspectable_reason,
                                blocker_pids.count(p->pid) > 0};
      if (p->have_status) u.uid = p->euid();
      report.uninspectable.push_back(std::move(u));
    }
    if (o.ignore_uninspectable && !blockers.empty())
      std::cerr << fmt::format(
          "reap: warning: --ignore-uninspectable: {} process(es) that could hold these "
          "segments were not inspected and were ignored\n",
          blockers.size());
  }

  return report;
}

namespace {

int run_with(const Options& o) {
  core::Report report = execute(o, nullptr);
  g_phases.mark("act");
  if (o.json) {
    print_json(report, std::cout);
  } else {
    print_human(report, std::cout);
  }
  std::cout.flush();
  g_phases.mark("report");
  return report.exit_code();
}

}  // namespace

int run(int argc, const char* const* argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  try {
    if (!parsed.options->command.empty()) return run_command(*parsed.options);
    return run_with(*parsed.options);
  } catch (const Refusal& e) {
    std::cerr << "reap: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "reap: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace reap::cli
