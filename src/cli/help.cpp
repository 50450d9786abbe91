#include "cli/help.hpp"

#include <cstdlib>
#include <map>

namespace reap::cli {
namespace {

constexpr const char* kExamples = R"(Examples:
  reap -n --shm                 what would be reaped and swept, for this repo and this user
  reap --shm                    reap this repo's leaked processes, then sweep /dev/shm
  reap -p 4242 -g 1             the whole subtree below pid 4242, 1 s grace
  reap --check --shm-only       CI gate: exit 1 if any segment would be unlinked
  reap --shm-only --min-age 15m --log-json sweep.jsonl --metrics-file reap.prom
  reap run --shm --fail-on-leak -- pytest -x tests/

Exit codes:
  0  nothing left behind (a dry run, or --check with nothing to do)
  1  a process needed SIGKILL or survived it, or an unlink failed; with --check:
     something would be reaped, killed or unlinked
  2  bad usage or input: one 'reap: error: ...' line on stderr, nothing acted on

Environment: NO_COLOR (no colours unless --color=always), REAP_TRACE_PHASES (step timings).
See reap(1) and docs/CLI.md.)";

constexpr const char* kRunFooter =
    R"(`reap run` also takes these options of reap (put them before `run` or after it):
  -g,--grace SECONDS, --kill-wait SECONDS, -n,--dry-run, --shm, --shm-dir DIR,
  --uid UID, --min-age DURATION, --ignore-uninspectable, --json, --log-json FILE,
  --metrics-file FILE, --color WHEN
It refuses --parent, --shm-only, --cwd, --match, --adopter and --check.

Exit: CMD's status (128+N when signal N killed it); when that is 0 and --fail-on-leak
was given, 1 if CMD left anything behind; 2 when CMD cannot be started or the options are
refused.

Example:
  reap run --shm --fail-on-leak -- pytest -x tests/)";

/// `reap run --help` names its real shape: the command comes after `--`.
class RunFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string) const override {
    return "Usage: reap run [OPTIONS] -- CMD [ARGS...]\n";
  }
};

}  // namespace

OperatingOptions add_operating_options(CLI::App& app, CLI::App& run, Options& o) {
  OperatingOptions added;
  added.check = app.add_flag("--check", o.check,
                             "Dry run; exit 1 if anything would be reaped, killed or unlinked");
  added.log_json = app.add_option("--log-json", o.log_json,
                                  "Append the JSON report (the --json schema) as one line to FILE");
  added.metrics_file = app.add_option(
      "--metrics-file", o.metrics_file,
      "Write a Prometheus textfile (node_exporter textfile collector) to FILE, atomically");
  added.color = app.add_option("--color", added.color_text,
                               "Colour the verdicts: auto (on a terminal, unless NO_COLOR is "
                               "set), always or never");

  static const std::map<std::string, std::string> kValueNames = {
      {"--parent", "PID"},    {"--grace", "SECONDS"},     {"--kill-wait", "SECONDS"},
      {"--shm-dir", "DIR"},   {"--uid", "UID"},           {"--cwd", "DIR"},
      {"--match", "TEXT"},    {"--adopter", "PID"},       {"--min-age", "DURATION"},
      {"--log-json", "FILE"}, {"--metrics-file", "FILE"}, {"--color", "WHEN"},
      {"--proc", "DIR"},      {"--threads", "N"},         {"--uds-dir", "DIR"},
      {"--mqueue-dir", "DIR"}};
  for (CLI::Option* opt : app.get_options()) {
    const auto& long_names = opt->get_lnames();
    if (long_names.empty()) continue;
    auto it = kValueNames.find("--" + long_names.front());
    if (it != kValueNames.end()) opt->type_name(it->second);
  }
  app.get_formatter()->column_width(32);
  app.footer(kExamples);
  run.formatter(std::make_shared<RunFormatter>());
  run.get_formatter()->column_width(32);
  run.footer(kRunFooter);
  return added;
}

std::optional<std::string> finish_operating_options(const OperatingOptions& added, bool run_parsed,
                                                    Options& o) {
  if (added.color->count()) {
    if (added.color_text == "auto")
      o.color = Options::Color::Auto;
    else if (added.color_text == "always")
      o.color = Options::Color::Always;
    else if (added.color_text == "never")
      o.color = Options::Color::Never;
    else
      return "--color '" + added.color_text + "': not one of auto, always, never";
  }
  const char* no_color = std::getenv("NO_COLOR");
  if (o.color == Options::Color::Auto && no_color && *no_color) o.color = Options::Color::Never;
  if (added.log_json->count() && o.log_json.empty()) return "--log-json '': FILE is empty";
  if (added.metrics_file->count() && o.metrics_file.empty())
    return "--metrics-file '': FILE is empty";
  if (o.check) {
    if (run_parsed)
      return "run: --check does not apply; use --fail-on-leak to fail on what CMD left behind";
    o.dry_run = true;
  }
  return std::nullopt;
}

}  // namespace reap::cli
