// What `--match` compares against: the program a process runs, not its arguments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace reap::core {

/// The words that name the program of a process:
/// - argv[0] as given (it may be a path);
/// - the executable, `/proc/PID/exe` (without a trailing " (deleted)"), so a helper binary
///   shipped inside a Python package (`.../dist-packages/torch/bin/torch_shm_manager`) names
///   its package;
/// - for an interpreter (python*, pypy*, node, ruby, perl, php, bash, sh, dash, zsh, ksh,
///   fish, lua*, Rscript, julia), the script it runs or, for `-m`, the module. Code given
///   with `-c`/`-e` is not a program name.
/// `cmdline` is raw /proc/PID/cmdline (NUL-separated); `exe` may be empty (unreadable).
std::vector<std::string> program_words(std::string_view cmdline, std::string_view exe);

/// True when one of `match` is a substring of one of the program words, or `cmdline` or
/// `comm` carry one of tractor's sub-actor markers (`_subactor[`, `tractor._child`), which
/// tractor puts in arguments and process names.
bool program_matches(std::string_view cmdline, std::string_view exe, std::string_view comm,
                     const std::vector<std::string>& match);

}  // namespace reap::core
