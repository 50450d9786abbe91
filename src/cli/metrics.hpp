// The Prometheus text format (exposition format 0.0.4) of one run, for node_exporter's
// textfile collector: one gauge family per quantity, every series labelled with the uid so
// that the files of several per-user sweeps on one host never collide.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/report.hpp"

namespace reap::cli {

struct MetricsRun {
  double finished_unix = 0;  ///< wall clock, seconds
  double duration = 0;       ///< seconds
  int exit_code = 0;
  /// Bytes of files in the sweep directory's filesystem that are unlinked but still mapped
  /// (nothing can free them but their holders' exit); nullopt when not measured.
  std::optional<std::uint64_t> deleted_mapped_bytes;
};

/// The textfile contents (ends with a newline). Names and labels are fixed ASCII; reasons
/// are grouped into a fixed set (see shm_reason_class).
std::string render_metrics(const core::Report& report, const MetricsRun& run);

/// The class of a kept/skipped shm reason: mapped, open, unverifiable, not_owned, too_new,
/// not_regular, or other.
const char* shm_reason_class(const std::string& reason);

/// Sums, over every mapping in /proc/PID/maps of every process reap can read, the extent of
/// files on device `dev` shown as "(deleted)" (each inode counted once, by its largest
/// mapped offset). Unreadable processes are skipped: this is a gauge, not a decision.
std::uint64_t deleted_mapped_bytes(const std::string& proc_root, dev_t dev);

}  // namespace reap::cli
