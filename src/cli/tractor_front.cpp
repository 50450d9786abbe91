#include "cli/tractor_front.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/app.hpp"
#include "cli/options.hpp"

namespace reap::cli {
namespace {

constexpr const char* kPrefix = "[tractor-reap] ";

/// Test hook and escape hatch: the directory the shm sweep reads (the reference has no flag
/// for it). Documented in docs/TRACTOR.md.
constexpr const char* kShmDirEnv = "TRACTOR_REAP_SHM_DIR";
/// The same for the UDS sweep's bindspace (default: reap's, the reference's
/// $XDG_RUNTIME_DIR/tractor).
constexpr const char* kUdsDirEnv = "TRACTOR_REAP_UDS_DIR";

constexpr const char* kUsage =
    "usage: tractor-reap [-h] [--parent PARENT] [--grace GRACE] [--dry-run] [--shm]\n"
    "                    [--shm-only] [--uds] [--uds-only]\n";

constexpr const char* kHelp = R"(
`tractor-reap`: reap's drop-in for tractor's reaper. SIGINT, a grace, then SIGKILL for
leaked subactor processes; optional sweep of orphaned /dev/shm segments of this user.
Phases run in this order: processes, shm, uds. Stricter than the reference where reap is
(pidfd signalling, fail-closed shm sweep, identity by device and inode): see tractor-reap(1).

options:
  -h, --help            show this help message and exit
  --parent PARENT, -p PARENT
                        descendant-mode: reap the subtree below PID PARENT
  --grace GRACE, -g GRACE
                        SIGINT grace window in seconds (default 3.0)
  --dry-run, -n         list matched pids/paths but do not signal/unlink
  --shm                 after process reap, also unlink orphaned /dev/shm segments owned by
                        the current user that no live process is mapping or holding open
  --shm-only            skip process reap; only do the shm sweep
  --uds                 after process reap (and shm), also unlink stale UDS socket files in
                        tractor's bindspace ($XDG_RUNTIME_DIR/tractor)
  --uds-only            skip process reap + shm; only do the UDS sweep

Exit: 0 clean (also a dry run, and nothing found); 1 SIGKILL was needed or an unlink
failed; 2 bad usage.
)";

struct UsageError {
  std::string message;
};

struct FrontArgs {
  std::optional<long long> parent;
  double grace = 3.0;
  bool dry_run = false, shm = false, shm_only = false, uds = false, uds_only = false;
  bool help = false;
};

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\n\r\f\v");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\n\r\f\v");
  return s.substr(b, e - b + 1);
}

/// Python's repr() of a str, for the bytes of a file name: printable text as is, quotes and
/// controls escaped, bytes that are not UTF-8 as os.fsdecode gives them ('\udcNN').
std::string py_repr(const std::string& bytes) {
  bool has_single = bytes.find('\'') != std::string::npos;
  bool has_double = bytes.find('"') != std::string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c == '\\' || c == static_cast<unsigned char>(quote)) {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20 || c == 0x7f) {
        out += fmt::format("\\x{:02x}", c);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A well-formed multi-byte sequence (no overlongs, no surrogates, <= U+10FFFF)?
    std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    unsigned cp = len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    bool ok = len && c <= 0xf4 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10ffff))))
      ok = false;
    if (!ok) {
      out += fmt::format("\\udc{:02x}", c);
      ++i;
    } else if (cp < 0xa0) {
      out += fmt::format("\\x{:02x}", cp);  // C1 controls
      i += len;
    } else {
      out.append(bytes, i, len);
      i += len;
    }
  }
  out += quote;
  return out;
}

template <class T, class F>
std::string py_list(const std::vector<T>& items, F render) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + render(items[i]);
  return out + "]";
}

/// Python's repr() of a float: the shortest text that reads back, with ".0" if integral.
std::string py_float(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos && s.find_first_of("0123456789") == 0) s += ".0";
  return s;
}

/// The Python exception repr the reference prints for a failed unlink, from reap's
/// "unlink failed: <strerror>" reason.
std::string py_oserror(const std::string& reason) {
  std::string text = reason;
  constexpr std::string_view kHead = "unlink failed: ";
  if (text.rfind(kHead, 0) == 0) text = text.substr(kHead.size());
  int err = 0;
  for (int e = 1; e < 134; ++e)
    if (text == std::strerror(e)) {
      err = e;
      break;
    }
  const char* cls = "OSError";
  switch (err) {
    case EACCES:
    case EPERM:
      cls = "PermissionError";
      break;
    case ENOENT:
      cls = "FileNotFoundError";
      break;
    case EISDIR:
      cls = "IsADirectoryError";
      break;
    case ENOTDIR:
      cls = "NotADirectoryError";
      break;
  }
  if (!err) return fmt::format("OSError({})", py_repr(text));
  return fmt::format("{}({}, {})", cls, err, py_repr(text));
}

FrontArgs parse(int argc, const char* const* argv) {
  FrontArgs a;
  struct Long {
    const char* name;
    bool takes_value;
  };
  static const Long kLong[] = {{"--help", false},    {"--parent", true},   {"--grace", true},
                               {"--dry-run", false}, {"--shm", false},     {"--shm-only", false},
                               {"--uds", false},     {"--uds-only", false}};
  auto apply = [&](const std::string& name, const std::optional<std::string>& value) {
    if (name == "--help") {
      a.help = true;
    } else if (name == "--parent") {
      std::string t = trim(*value);
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(t.c_str(), &end, 10);
      if (t.empty() || *end || errno)
        throw UsageError{
            fmt::format("argument --parent/-p: invalid int value: {}", py_repr(*value))};
      if (v <= 0 || v > INT_MAX)
        throw UsageError{
            fmt::format("argument --parent/-p: {}: not a process id (reap refuses it)", *value)};
      a.parent = v;
    } else if (name == "--grace") {
      std::string t = trim(*value);
      char* end = nullptr;
      double v = std::strtod(t.c_str(), &end);
      if (t.empty() || *end)
        throw UsageError{
            fmt::format("argument --grace/-g: invalid float value: {}", py_repr(*value))};
      if (!std::isfinite(v) || v < 0)
        throw UsageError{fmt::format(
            "argument --grace/-g: {}: reap needs a finite, non-negative number of seconds",
            *value)};
      a.grace = v;
    } else if (name == "--dry-run") {
      a.dry_run = true;
    } else if (name == "--shm") {
      a.shm = true;
    } else if (name == "--shm-only") {
      a.shm_only = true;
    } else if (name == "--uds") {
      a.uds = true;
    } else if (name == "--uds-only") {
      a.uds_only = true;
    }
  };
  auto display = [](const std::string& name) {
    if (name == "--parent") return std::string("--parent/-p");
    if (name == "--grace") return std::string("--grace/-g");
    if (name == "--dry-run") return std::string("--dry-run/-n");
    if (name == "--help") return std::string("--help/-h");
    return name;
  };
  std::vector<std::string> unrecognized;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) unrecognized.push_back(argv[i]);
      break;
    }
    if (arg.rfind("--", 0) == 0) {
      auto eq = arg.find('=');
      std::string key = arg.substr(0, eq);
      std::optional<std::string> inline_value;
      if (eq != std::string::npos) inline_value = arg.substr(eq + 1);
      // argparse: an exact name, else a unique prefix of one.
      const Long* match = nullptr;
      std::vector<const Long*> prefixed;
      for (const Long& l : kLong) {
        if (key == l.name) match = &l;
        if (std::string(l.name).rfind(key, 0) == 0) prefixed.push_back(&l);
      }
      if (!match && prefixed.size() == 1) match = prefixed.front();
      if (!match && prefixed.size() > 1) {
        std::string names;
        for (const Long* l : prefixed) names += (names.empty() ? "" : ", ") + std::string(l->name);
        throw UsageError{fmt::format("ambiguous option: {} could match {}", key, names)};
      }
      if (!match) {
        unrecognized.push_back(arg);
        continue;
      }
      if (match->takes_value) {
        if (!inline_value) {
          if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] != '\0' &&
                                !std::isdigit(static_cast<unsigned char>(argv[i + 1][1]))))
            throw UsageError{
                fmt::format("argument {}: expected one argument", display(match->name))};
          inline_value = argv[++i];
        }
      } else if (inline_value) {
        throw UsageError{fmt::format("argument {}: ignored explicit argument {}",
                                     display(match->name), py_repr(*inline_value))};
      }
      apply(match->name, inline_value);
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') {  // a cluster of short options: -n, -ng1, -p 42
      for (std::size_t k = 1; k < arg.size(); ++k) {
        char c = arg[k];
        if (c == 'h' || c == 'n') {
          apply(c == 'h' ? "--help" : "--dry-run", std::nullopt);
          continue;
        }
        if (c == 'p' || c == 'g') {
          std::string name = c == 'p' ? "--parent" : "--grace";
          std::optional<std::string> value;
          if (k + 1 < arg.size()) {
            value = arg.substr(k + 1);
            if (!value->empty() && (*value)[0] == '=') value = value->substr(1);
          } else if (i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1] != '\0' &&
                                       !std::isdigit(static_cast<unsigned char>(argv[i + 1][1])))) {
            value = argv[++i];
          } else {
            throw UsageError{fmt::format("argument {}: expected one argument", display(name))};
          }
          apply(name, value);
          break;
        }
        unrecognized.push_back(k == 1 ? arg : "-" + arg.substr(k));
        break;
      }
      continue;
    }
    unrecognized.push_back(arg);
  }
  if (!unrecognized.empty()) {
    std::string words;
    for (const auto& u : unrecognized) words += (words.empty() ? "" : " ") + u;
    throw UsageError{"unrecognized arguments: " + words};
  }
  return a;
}

std::string current_dir() {
  std::string buf(PATH_MAX, '\0');
  if (!::getcwd(buf.data(), buf.size())) return ".";
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

/// The process phase's lines, in the reference's shapes. Returns its part of the exit code.
int print_processes(const FrontArgs& a, const Options& o, const core::Report& r) {
  using W = core::ProcessVerdictWord;
  std::string mode = a.parent ? fmt::format("descendants of PPid={}", *a.parent)
                              : fmt::format("orphans (PPid=1, cwd={})", o.cwd);
  std::vector<pid_t> matched, sigint, sigkill;
  std::vector<const core::ProcessReportItem*> failed;
  for (const auto& p : r.processes) {
    if (p.verdict == W::Kept) continue;  // reap's stricter rules left it alone
    matched.push_back(p.pid);
    for (const auto& s : p.signals) {
      if (s == "SIGINT") sigint.push_back(p.pid);
      if (s == "SIGKILL") sigkill.push_back(p.pid);
    }
    if (p.verdict == W::Error || p.verdict == W::Survived) failed.push_back(&p);
  }
  auto pid_text = [](pid_t p) { return std::to_string(p); };
  if (matched.empty()) {
    std::cout << kPrefix << "no " << mode << " to reap\n";
    return 0;
  }
  if (a.dry_run) {
    std::cout << kPrefix << "dry-run — " << mode << ":\n  " << py_list(matched, pid_text) << "\n";
    return 0;
  }
  if (!sigint.empty())
    std::cout << kPrefix << "SIGINT → " << sigint.size()
              << " proc(s): " << py_list(sigint, pid_text) << "\n";
  if (!sigkill.empty())
    std::cout << kPrefix << "SIGKILL (after " << py_float(a.grace) << "s grace) → "
              << py_list(sigkill, pid_text) << "\n";
  for (const auto* p : failed)
    std::cout << kPrefix << "could not reap " << p->pid << ": " << p->reason << "\n";
  return sigkill.empty() && failed.empty() ? 0 : 1;
}

int print_shm(const FrontArgs& a, const core::Report& r) {
  using W = core::ShmVerdictWord;
  std::string prefix = r.shm_dir;
  if (prefix.empty() || prefix.back() != '/') prefix += '/';
  auto is_leaked = [](W v) {  // the reference counts a segment gone before its unlink
    return v == W::WouldUnlink || v == W::Unlinked || v == W::Gone || v == W::Error;
  };
  auto is_unlinked = [](W v) { return v == W::Unlinked || v == W::Gone; };
  std::size_t leaked = 0, unlinked = 0, errors = 0;
  for (std::size_t i = 0; i < r.shm.size(); ++i) {
    leaked += is_leaked(r.shm.verdict(i));
    unlinked += is_unlinked(r.shm.verdict(i));
    errors += r.shm.verdict(i) == W::Error;
  }
  // py_list of the paths whose verdict passes `keep`, written to std::cout as it is made:
  // a sweep may list 1,000,000 of them.
  auto print_list = [&](auto keep) {
    std::string chunk = "[";
    bool first = true;
    for (std::size_t i = 0; i < r.shm.size(); ++i) {
      if (!keep(r.shm.verdict(i))) continue;
      if (!first) chunk += ", ";
      first = false;
      chunk += py_repr(prefix + r.shm[i].name);
      if (chunk.size() > 65536) {
        std::cout << chunk;
        chunk.clear();
      }
    }
    std::cout << chunk << "]";
  };
  if (leaked == 0) {
    std::cout << kPrefix << "no orphaned " << r.shm_dir << " segments to sweep\n";
    return 0;
  }
  if (a.dry_run) {
    std::cout << kPrefix << "dry-run — " << leaked << " orphaned shm segment(s):\n  ";
    print_list(is_leaked);
    std::cout << "\n";
    return 0;
  }
  if (unlinked) {
    std::cout << kPrefix << "unlinked " << unlinked << " orphaned shm segment(s): ";
    print_list(is_unlinked);
    std::cout << "\n";
  }
  for (std::size_t i = 0; i < r.shm.size(); ++i)
    if (r.shm.verdict(i) == W::Error) {
      auto s = r.shm[i];
      std::cout << kPrefix << "could not unlink " << prefix + s.name << ": " << py_oserror(s.reason)
                << "\n";
    }
  return errors ? 1 : 0;
}

int print_uds(const FrontArgs& a, const core::Report& r) {
  using W = core::SweepVerdictWord;
  std::vector<std::string> leaked, unlinked;
  std::vector<std::pair<std::string, std::string>> errors;
  for (const auto& sw : r.sweeps) {
    if (sw.kind != "uds") continue;
    std::string prefix = sw.dirs.empty() ? std::string() : sw.dirs.front();
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    for (const auto& i : sw.items) {
      std::string path = i.name.find('/') == std::string::npos ? prefix + i.name : i.name;
      if (i.outcome == W::WouldRemove || i.outcome == W::Removed || i.outcome == W::Error)
        leaked.push_back(path);
      if (i.outcome == W::Removed) unlinked.push_back(path);
      if (i.outcome == W::Error) errors.emplace_back(path, i.reason);
    }
  }
  if (leaked.empty()) {
    std::cout << kPrefix << "no orphaned UDS sock-files to sweep\n";
    return 0;
  }
  if (a.dry_run) {
    std::cout << kPrefix << "dry-run — " << leaked.size() << " orphaned UDS sock-file(s):\n  "
              << py_list(leaked, py_repr) << "\n";
    return 0;
  }
  if (!unlinked.empty())
    std::cout << kPrefix << "unlinked " << unlinked.size()
              << " orphaned UDS sock-file(s): " << py_list(unlinked, py_repr) << "\n";
  for (const auto& [path, reason] : errors)
    std::cout << kPrefix << "could not unlink " << path << ": " << py_oserror(reason) << "\n";
  return errors.empty() ? 0 : 1;
}

}  // namespace

bool invoked_as_tractor(const char* argv0) {
  if (!argv0) return false;
  const char* slash = std::strrchr(argv0, '/');
  return std::strcmp(slash ? slash + 1 : argv0, "tractor-reap") == 0;
}

int tractor_main(int argc, const char* const* argv) {
  FrontArgs a;
  try {
    a = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "tractor-reap: error: " << e.message << "\n";
    return 2;
  }
  if (a.help) {
    std::cout << kUsage << kHelp;
    return 0;
  }
  Options o;
  const bool process_phase = !(a.shm_only || a.uds_only);
  // The reference: --uds-only skips processes and shm; --shm-only skips processes.
  const bool shm_phase = (a.shm || a.shm_only) && !a.uds_only;
  const bool uds_phase = a.uds || a.uds_only;
  o.parent = a.parent ? std::optional<pid_t>(static_cast<pid_t>(*a.parent)) : std::nullopt;
  o.grace = a.grace;
  o.dry_run = a.dry_run;
  o.uid = ::geteuid();
  if (process_phase && !a.parent) {
    // reap's rule, stricter than the reference's fallback: no git work tree, no scope.
    auto top = git_top_level(current_dir());
    if (!top || *top == "/") {
      std::cerr << "tractor-reap: error: orphan mode needs a scope: the working directory is "
                   "not in a git work tree; run it in the repo, or pass -p PID\n";
      return 2;
    }
    o.cwd = *top;
  }
  if (const char* dir = std::getenv(kShmDirEnv); dir && *dir) o.shm_dir = dir;
  if (const char* dir = std::getenv(kUdsDirEnv); dir && *dir) o.uds_dirs.push_back(dir);
  o.shm_only = !process_phase && shm_phase;
  o.shm = process_phase && shm_phase;
  o.uds_only = !process_phase && uds_phase;
  o.uds = process_phase && uds_phase;

  try {
    core::Report report;
    execute(o, nullptr, report);
    int rc = 0;
    if (process_phase) rc |= print_processes(a, o, report);
    if (shm_phase) rc |= print_shm(a, report);
    if (uds_phase) rc |= print_uds(a, report);
    std::cout.flush();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "tractor-reap: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace reap::cli
