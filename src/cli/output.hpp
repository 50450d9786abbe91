// Rendering of the Report: human lines or one JSON document (see docs/CLI.md).
#pragma once

#include <ostream>

#include "core/report.hpp"

namespace reap::cli {

void print_human(const core::Report& report, std::ostream& out);
void print_json(const core::Report& report, std::ostream& out);

}  // namespace reap::cli
