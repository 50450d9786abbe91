// The reap command: parse, scan, classify, plan, act, report.
#pragma once

namespace reap::cli {

/// Runs reap with the given arguments; returns the process exit code (0, 1 or 2, see
/// docs/CLI.md). Writes the report to stdout and diagnostics to stderr.
int run(int argc, const char* const* argv);

}  // namespace reap::cli
