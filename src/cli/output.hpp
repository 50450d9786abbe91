// Rendering of the Report: human lines or one JSON document (see docs/CLI.md).
#pragma once

#include <ostream>

#include "cli/options.hpp"
#include "core/report.hpp"

namespace reap::cli {

void print_human(const core::Report& report, std::ostream& out);
void print_json(const core::Report& report, std::ostream& out);

/// The report as the options ask: JSON with --json, else human lines.
void print_report(const Options& o, const core::Report& report, std::ostream& out);

}  // namespace reap::cli
