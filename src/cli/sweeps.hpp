// Every sweep as a core::Sweep binding its policy to its OS-side file: shm (shm_sweep.cpp),
// unix socket files, POSIX message queues, SysV shared memory (sweeps.cpp). The flow
// (app.cpp) runs them in the tractor-compatible order: shm, uds, mqueue, sysv.
#pragma once

#include <memory>
#include <set>
#include <unordered_set>
#include <vector>

#include "cli/options.hpp"
#include "core/report.hpp"
#include "core/sweep.hpp"
#include "os/dev_ino.hpp"

namespace reap::cli {

struct RunScope;  // cli/app.hpp

/// What existed before `reap run` started its command, per kind (never its leak).
struct ExtraPreexisting {
  std::unordered_set<os::DevIno, os::DevInoHash> files;  ///< socket files and queues
  std::set<std::pair<int, long long>> sysv;              ///< (shmid, ctime)
};

/// The sweeps `o` asks for, in order. Listing refusals throw (exit 2, nothing acted on).
std::vector<std::unique_ptr<core::Sweep>> make_extra_sweeps(const Options& o,
                                                            const ExtraPreexisting* scope);

/// Records what exists now for the sweeps `o` asks for (for `reap run`).
ExtraPreexisting snapshot_extra(const Options& o);

/// The shm sweep of `o.shm_dir` (with a scope: the directory `reap run` opened, and only
/// what appeared during the run). Its list() refuses what is not a memory filesystem.
std::unique_ptr<core::Sweep> make_shm_sweep(const Options& o, const RunScope* scope);

/// Appends to `out.unlinked`, as `kind`, the files of `snap.unlinked` on device `dev`.
void append_unlinked(const os::Snapshot& snap, dev_t dev, const char* kind, core::Report& out);

/// Threads for the per-process reads of a scan and the per-entry calls of a large sweep.
/// They pay off for the holder index (fd tables and maps of every process); a scan of stat
/// alone is faster in one thread (measured: 5 ms against 12-20 ms with two).
unsigned scan_threads(const Options& o, bool holders);

/// Whether `pid` is a live process (a zombie is not): for sweep verdicts over pids the kernel
/// records (SysV creator and last-attach pids) and for the name hints.
bool pid_alive(pid_t pid);

/// $XDG_RUNTIME_DIR/tractor, or /tmp/tractor-UID without a runtime dir (the reference's
/// bindspace).
std::string default_uds_dir();

}  // namespace reap::cli
