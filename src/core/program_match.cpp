#include "core/program_match.hpp"

#include <algorithm>
#include <array>

#include "os/proc_parse.hpp"

namespace reap::core {
namespace {

constexpr std::array<std::string_view, 2> kTractorMarkers = {"_subactor[", "tractor._child"};

std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

enum class Interpreter { None, Python, Other };

Interpreter interpreter_of(std::string_view name) {
  if (starts_with(name, "python") || starts_with(name, "pypy")) return Interpreter::Python;
  for (std::string_view n : {"node", "nodejs", "ruby", "perl", "php", "bash", "sh", "dash", "zsh",
                             "ksh", "fish", "Rscript", "julia"})
    if (name == n) return Interpreter::Other;
  if (starts_with(name, "lua") || starts_with(name, "perl") || starts_with(name, "ruby"))
    return Interpreter::Other;
  return Interpreter::None;
}

/// The script or module an interpreter runs, from its arguments after argv[0]; empty when it
/// runs code given inline or reads stdin.
std::string script_of(Interpreter kind, const std::vector<std::string>& args) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--") return i + 1 < args.size() ? args[i + 1] : std::string();
    if (a.empty() || a[0] != '-' || a == "-") return a == "-" ? std::string() : std::string(a);
    if (kind == Interpreter::Python) {
      // Options whose value is the next argument, or attached: -m MOD, -c CODE, -W ARG, -X OPT.
      char opt = a.size() > 1 ? a[1] : 0;
      if (a.size() > 1 && a[1] == '-') {  // --long options take no value we care about
        if (a == "--check-hash-based-pycs") ++i;
        continue;
      }
      // A cluster such as -uBm MOD: the first option letter that takes a value ends it.
      for (std::size_t k = 1; k < a.size(); ++k) {
        opt = a[k];
        if (opt == 'm' || opt == 'c' || opt == 'W' || opt == 'X') {
          std::string value = k + 1 < a.size()      ? std::string(a.substr(k + 1))
                              : i + 1 < args.size() ? args[i + 1]
                                                    : std::string();
          if (opt == 'm') return value;
          if (opt == 'c') return std::string();
          if (k + 1 >= a.size()) ++i;  // -W/-X value was the next argument
          break;
        }
      }
      continue;
    }
    // Other interpreters: -c/-e run inline code; any other option is skipped on its own.
    if (a == "-c" || a == "-e" || a == "-E" || a == "--eval" || a == "-r") return std::string();
  }
  return std::string();
}

bool contains(std::string_view hay, std::string_view needle) {
  return !needle.empty() && hay.find(needle) != std::string_view::npos;
}

}  // namespace

std::vector<std::string> program_words(std::string_view cmdline, std::string_view exe) {
  std::vector<std::string> words;
  auto args = os::split_cmdline(cmdline);
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.size() > kDeleted.size() && exe.substr(exe.size() - kDeleted.size()) == kDeleted)
    exe.remove_suffix(kDeleted.size());
  if (!args.empty()) words.push_back(args.front());
  if (!exe.empty()) words.emplace_back(exe);
  Interpreter kind = interpreter_of(basename(exe));
  if (kind == Interpreter::None && !args.empty()) kind = interpreter_of(basename(args.front()));
  if (kind != Interpreter::None) {
    std::string script = script_of(kind, args);
    if (!script.empty()) words.push_back(std::move(script));
  }
  return words;
}

bool program_matches(std::string_view cmdline, std::string_view exe, std::string_view comm,
                     const std::vector<std::string>& match) {
  for (std::string_view marker : kTractorMarkers)
    if (contains(cmdline, marker) || contains(comm, marker)) return true;
  for (const auto& word : program_words(cmdline, exe))
    for (const auto& m : match)
      if (contains(word, m)) return true;
  return false;
}

}  // namespace reap::core
