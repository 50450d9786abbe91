// Command-line options: parsing (CLI11) and the checks that need no /proc scan.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace reap::cli {

struct Options {
  std::optional<pid_t> parent;
  double grace = 3.0;
  double kill_wait = 2.0;
  bool dry_run = false;
  bool shm = false;
  bool shm_only = false;
  std::string shm_dir = "/dev/shm";
  bool uds = false;                       ///< add the unix socket file sweep
  bool uds_only = false;                  ///< only sweeps, no process phase
  std::vector<std::string> uds_dirs;      ///< empty: the reference's bindspace
  bool mqueue = false;                    ///< add the POSIX message queue sweep
  bool mqueue_only = false;               ///< only sweeps, no process phase (sets mqueue)
  std::optional<std::string> mqueue_dir;  ///< unset: /dev/mqueue (absent: nothing to do)
  bool sysv = false;                      ///< add the SysV shared memory sweep (opt-in)
  bool sysv_only = false;                 ///< only sweeps, no process phase (sets sysv)
  uid_t uid = 0;
  std::string cwd;              ///< orphan mode: --cwd, else the git top-level (else refused)
  bool allow_root_cwd = false;  ///< --cwd / is refused without it
  bool allow_any_fs = false;    ///< --shm-dir need not be a memory filesystem
  std::vector<std::string> match{"python"};
  std::vector<pid_t> adopters;
  std::optional<double> min_age;
  bool ignore_uninspectable = false;
  bool json = false;
  std::vector<std::string> command;  ///< `reap run -- CMD ARGS...`: the command to supervise
  bool fail_on_leak = false;         ///< `reap run`: exit 1 when the command leaked anything
  std::string proc_root = "/proc";   ///< hidden, for tests
  unsigned threads = 0;              ///< scan threads; 0 = as many as cores (at most 4)
  bool maps_text = false;            ///< hidden: parse maps text even where PROCMAP_QUERY works

  // Operating options (parsed in cli/help.cpp, used by cli/sinks.cpp).
  enum class Color { Auto, Always, Never };
  /// --check: a dry run whose exit status says whether anything would be done.
  bool check = false;
  /// --log-json FILE: append the JSON report as one line.
  std::string log_json;
  /// --metrics-file FILE: a Prometheus textfile, replaced atomically.
  std::string metrics_file;
  /// --color; NO_COLOR turns Auto into Never.
  Color color = Color::Auto;

  /// Any `*-only` flag: those sweeps run, the process phase does not.
  bool sweeps_only() const { return shm_only || uds_only || mqueue_only || sysv_only; }
  /// The first `*-only` flag given, for messages.
  const char* only_flag() const {
    return shm_only      ? "--shm-only"
           : uds_only    ? "--uds-only"
           : mqueue_only ? "--mqueue-only"
                         : "--sysv-only";
  }
};

/// Result of parsing: either options to run with, or an exit code to return at once
/// (0 after --help/--version, 2 after a usage error whose one-line message was printed).
struct ParseResult {
  std::optional<Options> options;
  int exit_code = 0;
};

ParseResult parse_options(int argc, const char* const* argv);

/// The git top-level of `dir` (nearest ancestor, `dir` included, holding ".git"), if any.
std::optional<std::string> git_top_level(const std::string& dir);

}  // namespace reap::cli
