// Where a run's report goes besides the plain report: colour on a terminal, the "nothing to
// reap" line, --log-json (one appended JSON line), --metrics-file (a Prometheus textfile
// replaced atomically), and the --check exit status.
#pragma once

#include <ostream>
#include <string>

#include "cli/options.hpp"
#include "core/report.hpp"
#include "util/fd.hpp"

namespace reap::cli {

class Sinks {
 public:
  /// Opens the --log-json file and a temporary file beside the --metrics-file before
  /// anything is acted on, so a bad path is a refusal (throws Refusal: exit 2).
  explicit Sinks(const Options& o);
  ~Sinks();
  Sinks(const Sinks&) = delete;
  Sinks& operator=(const Sinks&) = delete;

  /// Whether text written to `fd` gets colour (--color, NO_COLOR, isatty).
  bool color_on(int fd) const;

  /// The report on `out` (which is `fd`): JSON with --json; else the human report, which
  /// says what was searched when nothing was found, coloured when color_on(fd).
  void print_report(const core::Report& report, std::ostream& out, int fd) const;

  /// Appends the --log-json line and writes the --metrics-file. A failure here comes after
  /// acting, so it is a warning on stderr, not a refusal.
  void record(const core::Report& report);

  /// The exit status: Report::exit_code(), or for --check 1 when anything would be done.
  int exit_code(const core::Report& report) const;

 private:
  const Options& o_;
  double started_ = 0;
  util::UniqueFd log_;
  util::UniqueFd metrics_tmp_;
  std::string metrics_tmp_path_;
};

/// "nothing to reap: no orphans of uid 1000 under /repo matching python; ..." when the
/// report holds nothing that was or would be acted on; empty otherwise.
std::string nothing_found_line(const Options& o, const core::Report& report);

/// True when the report holds something that was or would be reaped, killed or unlinked.
bool anything_to_do(const core::Report& report);

}  // namespace reap::cli
