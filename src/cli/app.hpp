// The reap command: parse, scan, classify, plan, act, report.
#pragma once

#include <stdexcept>
#include <unordered_set>

#include "cli/options.hpp"
#include "core/report.hpp"
#include "os/dev_ino.hpp"
#include "os/shm_dir.hpp"

namespace reap::cli {
struct ExtraPreexisting;
}

namespace reap::cli {

/// A refusal: one line on stderr, exit 2, nothing acted on.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What `reap run` narrows a pass to: the sweep directory it opened (and listed) before the
/// command started, and the identities that were there then (never its leak).
struct RunScope {
  const os::ShmDir* dir = nullptr;
  std::unordered_set<os::DevIno, os::DevInoHash> preexisting;
  const ExtraPreexisting* extra = nullptr;  ///< the same for the uds, mqueue and sysv sweeps
};

/// One pass: list, scan, plan, act, into `report`. With a scope, the process phase takes
/// reap's own subtree (reap is the subreaper of the command it ran). Throws Refusal on bad
/// input (before anything is done); on any other failure `report` holds what was done so
/// far and `report.acted` says whether anything was.
void execute(const Options& o, const RunScope* scope, core::Report& report);

/// Opens `o.shm_dir` for `reap run` with the same refusals as a sweep (exit 2).
void open_run_sweep_dir(const Options& o, os::ShmDir& dir);

/// Runs reap with the given arguments; returns the process exit code (0, 1 or 2, see
/// docs/CLI.md). Writes the report to stdout and diagnostics to stderr.
int run(int argc, const char* const* argv);

}  // namespace reap::cli
