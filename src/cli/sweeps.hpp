// The sweeps beyond shm (unix socket files, POSIX message queues, SysV shared memory), each
// a core::Sweep binding its policy to its OS-side file, and the pass that runs them in the
// tractor-compatible order: uds, mqueue, sysv.
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

/// Lists every sweep (refusals throw before anything is acted on).
void list_extra_sweeps(std::vector<std::unique_ptr<core::Sweep>>& sweeps);

/// Scans /proc once for all of them, plans, acts (unless dry run) and appends each
/// sweep's report to `report`. `discounted`: processes the dry run would have reaped.
void run_extra_sweeps(const Options& o, std::vector<std::unique_ptr<core::Sweep>>& sweeps,
                      const std::set<pid_t>& discounted, core::Report& report);

/// Whether `pid` is a live process (a zombie is not): for sweep verdicts over pids the kernel
/// records (SysV creator and last-attach pids) and for the name hints.
bool pid_alive(pid_t pid);

/// True when the options ask for any sweep beyond shm.
bool wants_extra_sweeps(const Options& o);

/// $XDG_RUNTIME_DIR/tractor, or /tmp/tractor-UID without a runtime dir (the reference's
/// bindspace).
std::string default_uds_dir();

}  // namespace reap::cli
