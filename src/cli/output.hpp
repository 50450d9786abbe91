// Rendering of the Report: human lines or one JSON document (see docs/CLI.md).
#pragma once

#include <ostream>

#include "cli/options.hpp"
#include "core/report.hpp"

namespace reap::cli {

/// With `color`, verdict words get ANSI colours (cli/color.hpp).
void print_human(const core::Report& report, std::ostream& out, bool color = false);
void print_json(const core::Report& report, std::ostream& out);

/// The report as the options ask: JSON with --json, else human lines.
void print_report(const Options& o, const core::Report& report, std::ostream& out);

}  // namespace reap::cli
