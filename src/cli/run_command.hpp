// `reap run [options] -- CMD [ARGS...]`: supervise a command, then reap what it leaked.
#pragma once

#include "cli/options.hpp"

namespace reap::cli {

/// Makes reap a child subreaper, runs `o.command`, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to
/// it, waits for it, then reaps every process left below reap (orphans of CMD are adopted
/// by reap) and, with --shm, sweeps the segments that appeared during the run. The report
/// goes to stderr (stdout belongs to CMD), or as JSON to stdout with --json.
/// Returns CMD's exit status (128+N when killed by signal N); with --fail-on-leak, 1 when
/// CMD succeeded but something was left behind; 2 when CMD could not be started.
int run_command(const Options& o);

}  // namespace reap::cli
