// The help text (value names, examples, exit codes, `reap run --help`) and the operating
// options (--check, --log-json, --metrics-file, --color): added to the CLI11 app that
// cli/options.cpp builds, so that file keeps only the reaping options.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/options.hpp"

namespace reap::cli {

/// What add_operating_options registered, for finish_operating_options.
struct OperatingOptions {
  CLI::Option* check = nullptr;
  CLI::Option* log_json = nullptr;
  CLI::Option* metrics_file = nullptr;
  CLI::Option* color = nullptr;
  std::string color_text;
};

/// Adds --check, --log-json FILE, --metrics-file FILE and --color WHEN (writing into `o`),
/// then dresses the help of `app` and of its `run` subcommand: value names (PID, SECONDS,
/// DIR, DURATION, ...), an examples block and the exit codes. Call after every option is
/// added.
OperatingOptions add_operating_options(CLI::App& app, CLI::App& run, Options& o);

/// After parsing: resolves --color and NO_COLOR, makes --check a dry run. Returns the
/// one-line usage error, if any.
std::optional<std::string> finish_operating_options(const OperatingOptions& added, bool run_parsed,
                                                    Options& o);

}  // namespace reap::cli
