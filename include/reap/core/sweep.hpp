// The one shape every sweep follows, whatever kind of leak it handles:
//   list    the objects (before /proc is scanned, so one created later is no candidate),
//   watch   tell the scan which identities the holder index must answer for (the flow
//           scans /proc once for the union of what every sweep watches),
//   plan    a verdict and a reason for every object (pure policy over the snapshot),
//   act     remove, re-verifying identity right before each removal (skipped in a dry run),
//   report  the report lines (items, and the files of its file system that were unlinked
//           while still held).
// Between plan and act the flow may wait for exiting holders and plan again, and `reap
// run` may hold everything back while a process of the run is still there.
// A kind of leak is then one policy (core/*_policy) and one OS-side file (os/...), bound
// together by a Sweep (cli/shm_sweep.cpp, cli/sweeps.cpp).
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/attribution.hpp"
#include "os/proc_scan.hpp"

namespace reap::core {

struct Report;  // core/report.hpp

enum class SweepVerdict { Remove, Kept, Skipped };
enum class SweepVerdictWord { Removed, WouldRemove, Kept, Skipped, Error };

const char* word(SweepVerdictWord v);

/// One object of a sweep with its verdict (plan) or its outcome (report).
struct SweepItem {
  std::string name;  ///< raw bytes (a file name, or "shmid N key K" for SysV)
  SweepVerdict verdict = SweepVerdict::Kept;
  SweepVerdictWord outcome = SweepVerdictWord::Kept;
  std::string reason;
  std::optional<pid_t> holder;  ///< the process that holds or blocks it
  uid_t uid = 0;
  unsigned long long size = 0;
  std::optional<Attribution> likely;  ///< from the name; never changes the verdict
  std::string name_pid_note;  ///< tractor-style NAME@PID: "named for pid N, gone" (eye only)
};

/// A file that was unlinked while still open or mapped, in a swept directory's file system.
struct UnlinkedItem {
  std::string kind;  ///< the sweep whose directory's file system holds it ("shm", "mqueue")
  pid_t pid = 0;
  std::string comm;
  bool mapped = false;  ///< held by a mapping only (else by an open fd)
  unsigned long long size = 0;
};

/// What a sweep reports: its directory or source and every item.
struct SweepReport {
  std::string kind;  ///< "uds", "mqueue", "sysv"
  std::vector<std::string> dirs;
  std::string note;  ///< e.g. "not mounted: nothing to do"
  std::vector<SweepItem> items;
};

/// What every sweep's plan may consult besides its own listing.
struct SweepContext {
  uid_t uid = 0;
  std::set<pid_t> discounted;  ///< processes about to be reaped (dry run: planned)
  bool ignore_uninspectable = false;
  std::optional<double> min_age;
  double now = 0;
};

class Sweep {
 public:
  virtual ~Sweep() = default;
  virtual const char* kind() const = 0;
  /// What its objects are called in a reason: "segments", "socket files", "queues".
  virtual const char* objects() const = 0;
  /// Lists the objects. Throws cli::Refusal-style std::runtime_error on bad input.
  virtual void list() = 0;
  /// Lists again after a real process reap, before the rescan, so that the plan judges the
  /// present. The default keeps the first listing: an object made since is no candidate.
  virtual void relist() {}
  /// Whether its plan needs a /proc scan at all. A sweep with nothing of the owner's to judge
  /// says no, so that a sweep with nothing to do scans nothing.
  virtual bool needs_scan() const = 0;
  /// Adds what the holder index must watch (identities, devices for the unlinked report).
  virtual void watch(os::ScanOptions& scan) const = 0;
  /// Decides every item's verdict from the snapshot. May be called again after the flow
  /// waited for exiting processes (exiting_holders).
  virtual void plan(const os::Snapshot& snap, const SweepContext& context) = 0;
  /// Exiting processes (PF_EXITING, files not readable for a moment) that keep one of its
  /// objects: the flow waits for them, bounded (os::settle_exiting), and plans again.
  virtual std::set<pid_t> exiting_holders(const os::Snapshot&) const { return {}; }
  /// True when its plan fails closed on processes reap could not inspect: the report then
  /// lists them (Report::uninspectable), marking the ones that block something (blockers).
  virtual bool judges_uninspectable() const { return false; }
  /// Adds the uninspectable processes that could hold one of its objects (asked after
  /// report: a sweep may judge its objects only when it acts or reports).
  virtual void blockers(std::set<pid_t>&) const {}
  /// Keeps every object the plan would remove, naming `holder` and saying `reason` (`reap
  /// run` while a process of the run is still there).
  virtual void hold_back(pid_t holder, const std::string& reason) = 0;
  /// Removes what the plan says, each after re-verification. Not called in a dry run.
  /// Returns true when any removal was attempted.
  virtual bool act() = 0;
  /// Appends its report (outcomes from act, or "would remove" in a dry run) to `out`, with
  /// the files of its file system in `snap` that were unlinked while still held.
  virtual void report(const os::Snapshot& snap, bool dry_run, Report& out) = 0;
};

}  // namespace reap::core
