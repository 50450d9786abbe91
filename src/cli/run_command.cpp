#include "cli/run_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "cli/app.hpp"
#include "cli/output.hpp"
#include "util/fd.hpp"

namespace reap::cli {
namespace {

volatile sig_atomic_t g_child = 0;

void forward_signal(int sig) {
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), sig);
}

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/// Starts `argv` as a child. Returns its pid, or -1 with `err` set to the errno of the
/// failed exec (reported through a close-on-exec pipe).
pid_t spawn(const std::vector<std::string>& command, int& err) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    err = errno;
    return -1;
  }
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    for (int sig : kForwarded) ::signal(sig, SIG_DFL);
    ::execvp(argv[0], argv.data());
    int e = errno;
    ssize_t ignored = ::write(pipefd[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  ::close(pipefd[1]);
  util::UniqueFd reader(pipefd[0]);
  if (pid < 0) {
    err = errno;
    return -1;
  }
  int child_errno = 0;
  if (::read(reader.get(), &child_errno, sizeof child_errno) == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    err = child_errno;
    return -1;
  }
  return pid;
}

/// Waits for `child`, collecting adopted orphans that exit meanwhile. Returns its status.
int wait_for(pid_t child) {
  for (;;) {
    int status = 0;
    pid_t got = ::waitpid(-1, &status, 0);
    if (got == child) return status;
    if (got < 0 && errno != EINTR) return 0;
  }
}

void collect_zombies() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

bool leaked(const core::Report& r) {
  for (const auto& p : r.processes)
    if (p.verdict != core::ProcessVerdictWord::Kept) return true;
  for (const auto& s : r.shm)
    if (s.verdict == core::ShmVerdictWord::Unlinked ||
        s.verdict == core::ShmVerdictWord::WouldUnlink || s.verdict == core::ShmVerdictWord::Error)
      return true;
  return false;
}

}  // namespace

int run_command(const Options& o) {
  // Everything CMD leaves behind must end up below reap, whoever its parent was.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    throw Refusal(fmt::format("run: cannot become a subreaper: {}", std::strerror(errno)));

  RunScope scope;
  os::ShmDir dir;
  if (o.shm) {
    std::string error;
    if (!dir.open(o.shm_dir, error)) throw Refusal(error);
    for (const auto& e : dir.list()) scope.preexisting.insert(os::identity(e.st));
    scope.dir = &dir;
  }

  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : kForwarded) ::sigaction(sig, &sa, nullptr);

  int err = 0;
  pid_t child = spawn(o.command, err);
  if (child < 0)
    throw Refusal(fmt::format("run: cannot run '{}': {}", o.command.front(), std::strerror(err)));
  g_child = child;
  int status = wait_for(child);
  g_child = 0;
  for (int sig : kForwarded) ::signal(sig, SIG_DFL);

  int command_exit = WIFEXITED(status)     ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                           : 1;
  core::Report report = execute(o, &scope);
  collect_zombies();

  if (o.json) {
    print_json(report, std::cout);
    std::cout.flush();
  } else {
    print_human(report, std::cerr);
  }
  if (command_exit != 0) return command_exit;
  if (o.fail_on_leak && leaked(report)) return 1;
  return 0;
}

}  // namespace reap::cli
