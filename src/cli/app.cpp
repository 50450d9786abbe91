#include "cli/app.hpp"

#include <signal.h>
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
#include "cli/process_rounds.hpp"
#include "cli/run_command.hpp"
#include "cli/scope_command.hpp"
#include "cli/sinks.hpp"
#include "cli/sweeps.hpp"
#include "core/process_policy.hpp"
#include "core/report.hpp"
#include "core/shm_policy.hpp"
#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"
#include "os/signaller.hpp"
#include "util/clock.hpp"
#include "util/escape.hpp"
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
  static double now() { return util::monotonic_seconds(); }
  bool enabled_;
  double last_;
};
PhaseTimer g_phases;

core::ProcessSelection selection_from(const Options& o, const RunScope* scope) {
  core::ProcessSelection sel;
  sel.self = ::getpid();
  sel.uid = o.uid;
  if (scope) {  // `reap run`: reap is the subreaper; what is left below it leaked
    sel.mode = core::ProcessSelection::Mode::Descendant;
    sel.parent = sel.self;
    return sel;
  }
  sel.mode =
      o.parent ? core::ProcessSelection::Mode::Descendant : core::ProcessSelection::Mode::Orphan;
  sel.parent = o.parent.value_or(0);
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

/// The process phase's act step (reap_in_rounds) with the orphan/descendant policy: a
/// round also waits while processes that appeared are still to be judged
/// (RescanContext::unsettled). Returns true when any signal was sent.
bool reap_processes(const Options& o, const core::ProcessSelection& sel, const os::Snapshot& first,
                    std::vector<core::ProcessPlanItem> plan, core::Report& report) {
  core::RescanContext context;
  Rounds rounds;
  rounds.escalation = {o.grace, o.kill_wait, o.proc_root, {}};
  rounds.scan_threads = scan_threads(o, false);
  rounds.live_status = true;
  rounds.deferred_reason = "appeared while reaping and could not be pinned by pidfd; not signalled";
  rounds.on_snapshot = [&](const os::Snapshot& snap) {
    for (const auto& p : snap.processes) context.seen.insert({p.pid, p.starttime});
  };
  rounds.on_target = [&](const core::ProcessPlanItem& item, const os::Snapshot& snap) {
    if (!context.reaping_since) context.reaping_since = os::now_in_ticks();
    const os::ProcessInfo* p = snap.find(item.pid);
    std::string exe;
    if (p && sel.mode == core::ProcessSelection::Mode::Orphan) exe = snap.exe_of(*p).exe;
    context.known.push_back({item.pid, item.starttime, p ? p->pgrp : -1, std::move(exe)});
  };
  rounds.unsettled = [&] { return !context.unsettled.empty(); };
  rounds.replan = [&](const os::Snapshot& snap) {
    context.unsettled.clear();
    return core::plan_processes(snap, sel, &context);
  };
  rounds.mark = [](const char* step) { g_phases.mark(step); };
  return reap_in_rounds(rounds, first, std::move(plan), report);
}

/// The first process of a `reap run` that is still there after the process phase.
const core::ProcessReportItem* run_process_left(const core::Report& report) {
  for (const auto& p : report.processes)
    if (p.verdict == core::ProcessVerdictWord::Kept ||
        p.verdict == core::ProcessVerdictWord::Survived ||
        p.verdict == core::ProcessVerdictWord::Error)
      return &p;
  return nullptr;
}

/// The scan's options for what the sweeps watch (the union over all of them).
void watch_all(const std::vector<std::unique_ptr<core::Sweep>>& sweeps, os::ScanOptions& scan) {
  scan.watch.clear();
  scan.watch_all_on.clear();
  scan.unlinked_devs.clear();
  for (const auto& s : sweeps) s->watch(scan);
}

bool any_needs_scan(const std::vector<std::unique_ptr<core::Sweep>>& sweeps) {
  return std::any_of(sweeps.begin(), sweeps.end(), [](const auto& s) { return s->needs_scan(); });
}

/// The sweeps' steps after the process phase, over one snapshot for all of them: plan (and
/// plan again after waiting for exiting holders), hold back for `reap run`, act, report.
/// `scan`: the options that made `snap` (for the wait). `discounted`: processes the dry run
/// would have reaped.
void sweep_all(const Options& o, const RunScope* scope,
               std::vector<std::unique_ptr<core::Sweep>>& sweeps, os::Snapshot& snap,
               os::ScanOptions& scan, const std::set<pid_t>& discounted, core::Report& report) {
  core::SweepContext context;
  context.uid = o.uid;
  context.discounted = discounted;
  context.ignore_uninspectable = o.ignore_uninspectable;
  context.min_age = o.min_age;
  context.now = util::wall_seconds();
  for (auto& s : sweeps) s->plan(snap, context);
  // A process that is exiting (freeing a large address space, say) may refuse to show its
  // files for a moment; where one keeps something, wait for it (bounded) and judge again.
  std::set<pid_t> exiting;
  for (const auto& s : sweeps) exiting.merge(s->exiting_holders(snap));
  if (!exiting.empty()) {
    watch_all(sweeps, scan);  // (let go after the scan: rebuilt for the few it re-reads)
    os::settle_exiting(snap, scan, exiting);
    for (auto& s : sweeps) s->plan(snap, context);
  }
  // `reap run`: while a process of the run is still there, an object of the run that nothing
  // holds yet may be one it is about to open (or bind, or attach). Nothing of the run is
  // swept then, of any kind.
  if (const core::ProcessReportItem* left = scope ? run_process_left(report) : nullptr)
    for (auto& s : sweeps)
      s->hold_back(left->pid,
                   fmt::format("the run's process {} ({}) is still there ({}); the "
                               "run's {} are swept only once all of its processes "
                               "are gone",
                               left->pid, left->comm, core::word(left->verdict), s->objects()));
  for (auto& s : sweeps) {
    if (!o.dry_run) report.acted |= s->act();
    s->report(snap, o.dry_run, report);
  }
  // (Asked after the reports: a large shm sweep knows its blockers only once it has judged.)
  std::set<pid_t> blockers;
  bool judges_uninspectable = false;
  for (const auto& s : sweeps)
    if (s->judges_uninspectable()) {
      judges_uninspectable = true;
      s->blockers(blockers);
    }
  if (judges_uninspectable)
    for (const auto* p : snap.uninspectable()) {
      core::UninspectableItem u{p->pid, p->comm, std::nullopt, p->uninspectable_reason,
                                blockers.count(p->pid) > 0};
      if (p->have_status) u.uid = p->euid();
      report.uninspectable.push_back(std::move(u));
    }
  if (o.ignore_uninspectable && !blockers.empty())
    std::cerr << fmt::format(
        "reap: warning: --ignore-uninspectable: {} process(es) that could hold these "
        "{} were not inspected and were ignored\n",
        blockers.size(), report.shm_phase ? "segments" : "queues");
}

}  // namespace

void execute(const Options& o, const RunScope* scope, core::Report& report) {
  const bool process_phase = !o.sweeps_only();
  const bool shm_phase = o.shm || o.shm_only;
  os::raise_fd_limit();

  report.dry_run = o.dry_run;
  report.uid = o.uid;
  report.process_phase = process_phase;
  report.shm_phase = shm_phase;

  // List every sweep before /proc is read, so that an object created after the listing is
  // no candidate and one opened before the scan is seen as held; and so that every
  // refusal comes before anything is acted on. The order is the tractor-compatible one:
  // shm, uds, mqueue, sysv.
  std::vector<std::unique_ptr<core::Sweep>> sweeps;
  if (shm_phase) sweeps.push_back(make_shm_sweep(o, scope));
  for (auto& s : make_extra_sweeps(o, scope ? scope->extra : nullptr))
    sweeps.push_back(std::move(s));
  for (auto& s : sweeps) s->list();
  if (shm_phase) report.shm_dir = o.shm_dir;
  core::ProcessSelection sel;
  if (process_phase) sel = selection_from(o, scope);
  // Scan: one pass over /proc for the process phase and every sweep (the union of what
  // they watch). A sweep alone with nothing of the uid's to judge needs no holder index: no
  // /proc scan at all.
  os::ScanOptions scan;
  scan.proc_root = o.proc_root;
  scan.process_details = process_phase;
  scan.pin = process_phase && !o.dry_run;
  scan.maps_query = !o.maps_text;
  watch_all(sweeps, scan);
  scan.threads = scan_threads(o, shm_phase || scan.watching());
  g_phases.mark("list");
  const bool need_scan = process_phase || any_needs_scan(sweeps);
  os::Snapshot snap = need_scan ? os::scan_proc(scan) : os::Snapshot{};
  decltype(scan.watch)().swap(scan.watch);  // as large as the listing: not kept meanwhile
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
    // ProcessInfo is filled by one thread only. Orphan mode tests uid and cwd first, and
    // reads cmdline and exe (cmdline reads the target's memory: the dearest read of all)
    // only for the processes that pass; descendant mode takes the whole subtree, whose
    // status (uid, SigIgn) and cmdline (for the report) the plan reads anyway.
    auto ahead = core::detail_candidates(snap, sel);
    const bool orphans = sel.mode == core::ProcessSelection::Mode::Orphan;
    util::parallel_for(
        ahead.size(), scan_threads(o, true),
        [&](std::size_t i) {
          const os::ProcessInfo& p = *ahead[i];
          if (!orphans) {
            snap.status_of(p);
            snap.cmdline_of(p);
          } else if (core::in_orphan_scope(snap, p, sel)) {
            snap.cmdline_of(p);
            snap.exe_of(p);
          }
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
  if (std::getenv("REAP_TEST_FAULT_AFTER_PROCESS_PHASE"))  // test hook: see docs/CLI.md
    throw std::runtime_error("injected fault after the process phase (test hook)");

  // The sweeps. After a real reap the holder index is stale (holders died, time passed):
  // list and scan again, once for all of them, so they judge the present, not the past.
  // (Without a reap nothing was done since the scan: every sweep judges from it.)
  if (sweeps.empty()) return;
  if (signalled) {
    for (auto& s : sweeps) s->relist();
    scan.process_details = false;
    scan.pin = false;
    watch_all(sweeps, scan);
    snap = any_needs_scan(sweeps) ? os::scan_proc(scan) : os::Snapshot{};
    decltype(scan.watch)().swap(scan.watch);
  }
  sweep_all(o, scope, sweeps, snap, scan, o.dry_run ? planned_targets : std::set<pid_t>{}, report);
}

namespace {

int run_with(const Options& o) {
  Sinks sinks(o);  // --log-json, --metrics-file: opened before acting (a bad path refuses)
  core::Report report;
  try {
    execute(o, nullptr, report);
  } catch (const std::exception& e) {
    if (!report.acted) throw;  // nothing done: exit 2 with the one-line error
    // Something was done: say what, then fail with 1 (2 would claim nothing was).
    report.final_exit_code = 1;
    sinks.print_report(report, std::cout, STDOUT_FILENO);
    sinks.record(report);
    std::cerr << "reap: error: " << util::escape_for_terminal(e.what())
              << " (after acting: the report above says what was done)\n";
    return 1;
  }
  g_phases.mark("act");
  sinks.print_report(report, std::cout, STDOUT_FILENO);
  sinks.record(report);
  g_phases.mark("report");
  return sinks.exit_code(report);
}

}  // namespace

int run(int argc, const char* const* argv) {
  if (argc > 1 && std::strcmp(argv[1], "scope") == 0) return scope_command(argc, argv);
  auto parsed = parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  try {
    if (!parsed.options->command.empty()) return run_command(*parsed.options);
    return run_with(*parsed.options);
  } catch (const std::exception& e) {
    std::cerr << "reap: error: " << util::escape_for_terminal(e.what()) << "\n";
    return 2;
  }
}

}  // namespace reap::cli
