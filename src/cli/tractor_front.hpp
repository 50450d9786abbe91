// `tractor-reap`: the reference tool's exact command line (see docs/TRACTOR.md) in front of
// reap's engine. The same binary, chosen by argv[0].
#pragma once

namespace reap::cli {

/// True when argv[0]'s last path component is "tractor-reap".
bool invoked_as_tractor(const char* argv0);

/// Parses -p/--parent, -g/--grace, -n/--dry-run, --shm, --shm-only, --uds, --uds-only
/// (argparse rules: --long=VALUE, unique prefixes, clustered short flags), runs the phases
/// in the reference order (processes, shm, uds) and prints `[tractor-reap] ...` lines.
/// Returns 0, 1 (SIGKILL needed or an unlink failed) or 2 (usage; one line on stderr).
int tractor_main(int argc, const char* const* argv);

}  // namespace reap::cli
