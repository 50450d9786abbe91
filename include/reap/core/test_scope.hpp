// The per-test scope rule, written once: what appeared below a root process during one test
// (or one session) and is still there is that test's leak. Used by `reap scope` (which the
// pytest plugin calls) and by the GoogleTest listener. Decides only; no syscalls beyond the
// Snapshot's own deferred reads.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/process_policy.hpp"
#include "os/dev_ino.hpp"
#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"

namespace reap::core {

/// A process across pid reuse: (pid, start time in clock ticks).
using ProcessKey = std::pair<pid_t, unsigned long long>;

/// One swept directory at the start of the scope: its identity and what was in it.
struct ScopeDir {
  std::string path;
  os::DevIno id;
  std::unordered_set<os::DevIno, os::DevInoHash> present;
};

/// What was there when the scope began. Nothing in it is ever this scope's leak.
struct ScopeBaseline {
  pid_t root = 0;                     ///< the test runner (pytest, the gtest binary)
  unsigned long long root_start = 0;  ///< its start time: a reused root pid is refused
  std::set<ProcessKey> present;       ///< every live process below root then
  std::vector<ScopeDir> dirs;         ///< the swept directories, as listed then
};

/// Command-line texts of long-lived helpers that are started on first use and are not
/// leaks: multiprocessing's resource tracker and forkserver, pytest-xdist's (execnet's)
/// workers. Always spared, on top of what the caller adds.
const std::vector<std::string>& default_spared();

/// True when `cmdline` (raw, NUL-separated; arguments joined by spaces for the test) contains
/// one of `spare`.
bool is_spared(const std::string& cmdline, const std::vector<std::string>& spare);

/// The process part of a baseline: `root` (with its start time) and everything below it in
/// `snap`, zombies left out. Dirs are the caller's to add (see scope_dir).
ScopeBaseline scope_baseline(const os::Snapshot& snap, pid_t root);

/// The directory part of a baseline: the identity of every entry in `entries`.
ScopeDir scope_dir(const std::string& path, dev_t dev, ino_t ino,
                   const std::vector<os::DirEntry>& entries);

/// The scope's leaked processes in `snap`: walking down from root's children, each process
/// that is alive, absent from the baseline and not spared (default_spared() + `spare`) is a
/// member, and so is everything below it. The walk never enters a process that was present
/// at the baseline or is spared: their children are theirs (a session fixture's server, the
/// forkserver's workers), not the test's. Orphans come back as new children of root when root
/// is a subreaper. Empty when root is gone or is another process than at the baseline.
std::set<ProcessKey> scope_members(const os::Snapshot& snap, const ScopeBaseline& base,
                                   const std::vector<std::string>& spare);

/// The process plan for the scope: descendant mode below root (so the same verdicts and
/// reasons as `reap -p`: other uids kept, SIGINT-ignorers killed at once, reap and its
/// ancestors never taken), narrowed to scope_members().
std::vector<ProcessPlanItem> plan_scope_processes(const os::Snapshot& snap,
                                                  const ScopeBaseline& base,
                                                  const std::vector<std::string>& spare, uid_t uid,
                                                  pid_t self);

/// Entries of a swept directory that were not there at the baseline (by identity).
std::vector<os::DirEntry> new_entries(std::vector<os::DirEntry> entries, const ScopeDir& dir);

/// Zombies that are direct children of root and new since the baseline: root (when it is
/// the caller itself, as in the GoogleTest listener) collects them so adopted orphans do not
/// pile up under a subreaper.
std::vector<pid_t> scope_zombies(const os::Snapshot& snap, const ScopeBaseline& base);

}  // namespace reap::core
