// The GoogleTest listener: the same scope as `reap scope`, in process (the root is the test
// binary itself, so it also collects the zombies of what it reaped).
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <reap/gtest.hpp>

#include "cli/app.hpp"
#include "cli/scope_command.hpp"
#include "core/test_scope.hpp"
#include "os/proc_scan.hpp"
#include "util/escape.hpp"
#include "util/fd.hpp"

namespace reap::gtest {
namespace {

/// The cheap view that decides whether a scan is needed at all: the binary's direct children
/// (orphans of a subreaper come back as direct children) and the inode numbers in the dir.
/// It decides nothing else; core/test_scope does.
struct View {
  std::set<core::ProcessKey> procs;
  std::set<core::ProcessKey> zombies;
  std::set<ino_t> inodes;
  bool within(const View& o) const {
    for (const auto& p : procs)
      if (!o.procs.count(p)) return false;
    for (auto i : inodes)
      if (!o.inodes.count(i)) return false;
    return true;
  }
};

View read_view(const std::string& shm_dir) {
  View v;
  std::set<pid_t> pids;
  if (DIR* tasks = ::opendir("/proc/self/task")) {
    while (struct dirent* t = ::readdir(tasks)) {
      if (t->d_name[0] == '.') continue;
      std::string text;
      auto path = fmt::format("/proc/self/task/{}/children", t->d_name);
      if (util::read_file_at(AT_FDCWD, path.c_str(), text) != 0) continue;
      const char* p = text.c_str();
      char* end = nullptr;
      for (long pid = std::strtol(p, &end, 10); end != p; pid = std::strtol(p, &end, 10)) {
        pids.insert(static_cast<pid_t>(pid));
        p = end;
      }
    }
    ::closedir(tasks);
  }
  for (pid_t pid : pids) {
    std::string stat;
    auto path = fmt::format("/proc/{}/stat", pid);
    if (util::read_file_at(AT_FDCWD, path.c_str(), stat) != 0) continue;
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;
    char state = stat[paren + 2];
    // Field 22 (starttime) is the 20th after the state.
    std::size_t pos = paren + 2;
    for (int field = 0; field < 19 && pos != std::string::npos; ++field)
      pos = stat.find(' ', pos + 1);
    if (pos == std::string::npos) continue;
    core::ProcessKey key{pid, std::strtoull(stat.c_str() + pos + 1, nullptr, 10)};
    (state == 'Z' || state == 'X' ? v.zombies : v.procs).insert(key);
  }
  if (!shm_dir.empty())
    if (DIR* d = ::opendir(shm_dir.c_str())) {
      while (struct dirent* e = ::readdir(d)) v.inodes.insert(e->d_ino);
      ::closedir(d);
    }
  return v;
}

void collect(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
  }
}

/// One line per item that is a leak (what was done to it), as in the pytest plugin.
std::vector<std::string> leak_lines(const core::Report& r) {
  using P = core::ProcessVerdictWord;
  using S = core::ShmVerdictWord;
  std::vector<std::string> out;
  for (const auto& p : r.processes) {
    if (p.verdict == P::Kept || p.verdict == P::Gone) continue;
    std::string cmd = p.cmdline;
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    out.push_back(fmt::format("process {} ({}) '{}': {}: {}", p.pid,
                              util::escape_for_terminal(p.comm), util::escape_for_terminal(cmd),
                              core::word(p.verdict), p.reason));
  }
  for (const auto& s : r.shm)
    if (s.verdict == S::Unlinked || s.verdict == S::WouldUnlink || s.verdict == S::Error)
      out.push_back(fmt::format("shm {}: {}{}", util::escape_for_terminal(s.name),
                                core::word(s.verdict), s.reason.empty() ? "" : ": " + s.reason));
  return out;
}

}  // namespace

struct LeakListener::State {
  LeakOptions options;
  bool active = false;
  std::optional<core::ScopeBaseline> session;
  std::optional<core::ScopeBaseline> test;
  View saved;

  std::vector<std::string> shm_dirs() const {
    return options.shm_dir.empty() ? std::vector<std::string>{}
                                   : std::vector<std::string>{options.shm_dir};
  }
  void warn(const std::string& what) {
    std::cerr << "reap: warning: leak checks are off: " << what << "\n";
    active = false;
  }
  /// Reaps the scope; returns the leak lines (empty when nothing leaked).
  std::vector<std::string> check(const core::ScopeBaseline& base) {
    cli::ScopeReapOptions o;
    o.grace = options.grace;
    o.kill_wait = options.kill_wait;
    o.shm = !options.shm_dir.empty();
    o.uid = ::geteuid();
    o.spare = options.spare;
    try {
      core::Report report = cli::reap_scope(base, o);
      for (const auto& p : report.processes) collect(p.pid);
      return leak_lines(report);
    } catch (const std::exception& e) {
      warn(e.what());
      return {};
    }
  }
};

LeakListener::LeakListener(LeakOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
}

LeakListener::~LeakListener() = default;

void LeakListener::OnTestProgramStart(const ::testing::UnitTest&) {
  State& s = *state_;
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    return s.warn(fmt::format("cannot become a subreaper: {}", std::strerror(errno)));
  try {
    s.session = cli::capture_scope(::getpid(), s.shm_dirs());
  } catch (const std::exception& e) {
    return s.warn(e.what());
  }
  s.active = true;
}

void LeakListener::OnTestStart(const ::testing::TestInfo&) {
  State& s = *state_;
  if (!s.active) return;
  View now = read_view(s.options.shm_dir);
  if (s.test && now.within(s.saved)) return;  // nothing new since the last baseline
  try {
    s.test = cli::capture_scope(::getpid(), s.shm_dirs());
    s.saved = std::move(now);
  } catch (const std::exception& e) {
    s.warn(e.what());
  }
}

void LeakListener::OnTestEnd(const ::testing::TestInfo& info) {
  State& s = *state_;
  if (!s.active || !s.test) return;
  View now = read_view(s.options.shm_dir);
  for (const auto& z : now.zombies)
    if (!s.saved.procs.count(z) && !s.saved.zombies.count(z)) collect(z.first);
  if (now.within(s.saved)) return;
  auto lines = s.check(*s.test);
  if (lines.empty()) return;
  std::string text;
  for (const auto& l : lines) text += "\n  " + l;
  if (s.options.fail_on_leak) {
    ADD_FAILURE() << info.test_suite_name() << "." << info.name()
                  << " leaked (reaped by reap):" << text;
  } else if (!s.options.quiet) {
    std::cout << "reap: " << info.test_suite_name() << "." << info.name() << " leaked:" << text
              << std::endl;
  }
}

void LeakListener::OnTestIterationEnd(const ::testing::UnitTest&, int) {
  State& s = *state_;
  if (!s.active || !s.session) return;
  auto lines = s.check(*s.session);
  if (lines.empty()) return;
  std::string text;
  for (const auto& l : lines) text += "\n  " + l;
  if (s.options.fail_on_leak)
    ADD_FAILURE() << "left behind after the last test (reaped by reap):" << text;
  else if (!s.options.quiet)
    std::cout << "reap: left behind after the last test:" << text << std::endl;
}

}  // namespace reap::gtest
