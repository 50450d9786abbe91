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
  static double now() {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  bool enabled_;
  double last_;
};
PhaseTimer g_phases;

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

/// Opens the sweep directory, refusing (exit 2) what is not a memory filesystem unless
/// --allow-any-fs says otherwise: a sweep elsewhere could delete ordinary files.
void open_sweep_dir(const Options& o, os::ShmDir& dir) {
  std::string error;
  if (!dir.open(o.shm_dir, error)) throw Refusal(error);
  std::string fs;
  if (!o.allow_any_fs && !dir.on_memory_fs(fs))
    throw Refusal(fmt::format(
        "--shm-dir {}: not a memory filesystem ({}); POSIX shm lives on tmpfs, and a sweep "
        "elsewhere could delete ordinary files (--allow-any-fs overrides)",
        util::escape_for_terminal(o.shm_dir), fs));
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

}  // namespace

void open_run_sweep_dir(const Options& o, os::ShmDir& dir) {
  open_sweep_dir(o, dir);
}

void execute(const Options& o, const RunScope* scope, core::Report& report) {
  const bool process_phase = !o.sweeps_only();
  const bool shm_phase = o.shm || o.shm_only;
  os::raise_fd_limit();

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
    if (!(scope && scope->dir)) open_sweep_dir(o, own_dir);
    list_entries();
    report.shm_dir = o.shm_dir;
  }
  // The other sweeps (uds, mqueue, sysv) list now too, so that their refusals come before
  // anything is acted on; they scan and plan after the shm phase.
  auto extra_sweeps = make_extra_sweeps(o, scope ? scope->extra : nullptr);
  list_extra_sweeps(extra_sweeps);
  core::ProcessSelection sel;
  if (process_phase) sel = selection_from(o, scope);
  os::ScanOptions scan;
  scan.proc_root = o.proc_root;
  scan.process_details = process_phase;
  scan.pin = process_phase && !o.dry_run;
  scan.threads = scan_threads(o, shm_phase);
  scan.maps_query = !o.maps_text;
  if (shm_phase) scan.watch = candidates(entries, o.uid);
  if (shm_phase) scan.unlinked_devs.insert(dir.dev());
  g_phases.mark("list");
  // A sweep alone with no candidate of the uid needs no holder index: no /proc scan at all.
  const bool need_scan = process_phase || !scan.watch.empty();
  os::Snapshot snap = need_scan ? os::scan_proc(scan) : os::Snapshot{};
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
    // ProcessInfo is filled by one thread only. (cmdline and exe wait for the cheap tests.)
    // Orphan mode tests uid and cwd first; descendant mode takes the whole subtree, whose
    // status (uid, SigIgn) and cmdline (for the report) the plan reads anyway.
    auto ahead = core::detail_candidates(snap, sel);
    const bool orphans = sel.mode == core::ProcessSelection::Mode::Orphan;
    util::parallel_for(
        ahead.size(), scan_threads(o, true),
        [&](std::size_t i) {
          snap.status_of(*ahead[i]);
          if (orphans) {
            snap.cwd_of(*ahead[i]);
          } else {
            snap.cmdline_of(*ahead[i]);
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

  // Shm phase. After a real reap the holder index is stale (holders died, time passed):
  // list and scan again so the sweep judges the present, not the past.
  if (shm_phase) {
    os::ScanOptions used = scan;
    if (signalled) {
      list_entries();
      used.process_details = false;
      used.pin = false;
      used.watch = candidates(entries, o.uid);
      snap = used.watch.empty() ? os::Snapshot{} : os::scan_proc(used);
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
    auto plan = core::plan_shm(entries, snap, policy);
    // A process that is exiting (freeing a large address space, say) may refuse to show its
    // files for a moment; where one keeps a segment, wait for it (bounded) and judge again.
    std::set<pid_t> exiting;
    for (const auto& item : plan)
      if (item.verdict == core::ShmVerdict::Kept && item.holder)
        if (const os::ProcessInfo* p = snap.find(*item.holder); p && p->exiting)
          exiting.insert(p->pid);
    if (!exiting.empty()) {
      os::settle_exiting(snap, used, exiting);
      plan = core::plan_shm(entries, snap, policy);
    }
    auto blockers = core::blocking_uninspectable(entries, snap, blocking);
    std::vector<os::DirEntry>().swap(entries);
    // `reap run`: while a process of the run is still there, a segment of the run that no
    // process holds yet may be one it is about to open. Nothing of the run is swept then.
    if (const core::ProcessReportItem* left = scope ? run_process_left(report) : nullptr)
      for (auto& item : plan)
        if (item.verdict == core::ShmVerdict::Unlink) {
          item.verdict = core::ShmVerdict::Kept;
          item.holder = left->pid;
          item.reason = fmt::format(
              "the run's process {} ({}) is still there ({}); the run's segments are swept "
              "only once all of its processes are gone",
              left->pid, left->comm, core::word(left->verdict));
        }
    report.shm.reserve(plan.size());
    // Act: each re-check and unlink is independent of the others. (Unlinks in one
    // directory serialise on its lock in the kernel; the re-checks overlap with them.)
    std::vector<std::optional<os::UnlinkOutcome>> outcomes(plan.size());
    if (!o.dry_run) {
      util::parallel_for(plan.size(), scan_threads(o, true), [&](std::size_t i) {
        if (plan[i].verdict == core::ShmVerdict::Unlink)
          outcomes[i] = dir.unlink_if_same(plan[i].name, plan[i].id);
      });
      for (const auto& out : outcomes) report.acted |= out.has_value();
    }
    for (std::size_t i = 0; i < plan.size(); ++i) {
      report.shm.push_back(core::describe_shm(std::move(plan[i]), o.dry_run, outcomes[i]));
      report.shm.back().likely = core::attribute(report.shm.back().name, pid_alive);
    }
    std::vector<core::ShmPlanItem>().swap(plan);
    std::set<pid_t> blocker_pids;
    for (const auto* p : blockers) blocker_pids.insert(p->pid);
    for (const auto* p : snap.uninspectable()) {
      core::UninspectableItem u{p->pid, p->comm, std::nullopt, p->uninspectable_reason,
                                blocker_pids.count(p->pid) > 0};
      if (p->have_status) u.uid = p->euid();
      report.uninspectable.push_back(std::move(u));
    }
    for (const auto& u : snap.unlinked) {
      core::UnlinkedItem item{"shm", u.pid, "?", u.kind == os::HoldKind::Mmap,
                              static_cast<unsigned long long>(u.size)};
      if (const auto* p = snap.find(u.pid)) item.comm = p->comm;
      report.unlinked.push_back(std::move(item));
    }
    if (o.ignore_uninspectable && !blockers.empty())
      std::cerr << fmt::format(
          "reap: warning: --ignore-uninspectable: {} process(es) that could hold these "
          "segments were not inspected and were ignored\n",
          blockers.size());
  }

  // Then unix socket files, message queues, SysV segments (the tractor-compatible order).
  run_extra_sweeps(o, extra_sweeps, o.dry_run ? planned_targets : std::set<pid_t>{}, report);
  if (!o.dry_run)
    for (const auto& sw : report.sweeps)
      for (const auto& i : sw.items) report.acted |= i.verdict == core::SweepVerdict::Remove;
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
