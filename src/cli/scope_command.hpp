// `reap scope save|reap`: the per-test (or per-session) scope of a test runner that calls
// reap, and the same two steps as functions for in-process harnesses (GoogleTest listener).
// The rule itself is core/test_scope; this file scans, acts and reads/writes the baseline.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/report.hpp"
#include "core/test_scope.hpp"

namespace reap::cli {

/// Scans /proc and lists `shm_dirs`: what is below `root` and in the dirs now. Throws
/// Refusal (a missing or symlinked dir, root gone).
core::ScopeBaseline capture_scope(pid_t root, const std::vector<std::string>& shm_dirs,
                                  const std::string& proc_root = "/proc");

struct ScopeReapOptions {
  double grace = 3.0;
  double kill_wait = 2.0;
  bool dry_run = false;
  bool shm = false;  ///< sweep the baseline's dirs (new entries only)
  uid_t uid = 0;
  std::optional<double> min_age;
  bool ignore_uninspectable = false;
  std::vector<std::string> spare;  ///< besides core::default_spared()
  std::string proc_root = "/proc";
};

/// Reaps what appeared below base.root since the baseline (SIGINT, grace, SIGKILL, rescans
/// for forks while dying) and, with `shm`, sweeps the entries that appeared in the baseline's
/// dirs since then by the rules of `reap --shm-only`. Nothing present at the baseline is
/// looked at. Throws Refusal when a dir is no longer the one of the baseline.
core::Report reap_scope(const core::ScopeBaseline& base, const ScopeReapOptions& o);

/// The baseline file: a line-oriented text written atomically (tmp + rename).
void write_baseline(const core::ScopeBaseline& base, const std::string& path);
/// Throws Refusal when `path` cannot be read or is not a baseline.
core::ScopeBaseline read_baseline(const std::string& path);

/// True when the report has something the scope leaked: a process signalled (or that would
/// be), a segment unlinked (or that would be), or an error.
bool scope_leaked(const core::Report& r);

/// `reap scope ...` (argv[1] == "scope"). Returns the exit code.
int scope_command(int argc, const char* const* argv);

}  // namespace reap::cli
