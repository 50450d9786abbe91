#include "cli/run_command.hpp"
#include "cli/sweeps.hpp"

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
#include "cli/sinks.hpp"
#include "util/escape.hpp"
#include "util/fd.hpp"

namespace reap::cli {
namespace {

volatile sig_atomic_t g_child = 0;

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/// Forwards a signal to CMD, unless the terminal delivered it: a key such as Ctrl-C makes
/// the tty driver signal the whole foreground process group (si_code SI_KERNEL), and CMD,
/// which shares reap's group, has had it already. Forwarding it too would deliver it twice.
void forward_signal(int sig, siginfo_t* info, void*) {
  if (info && info->si_code == SI_KERNEL && ::getpgrp() == ::getpgid(static_cast<pid_t>(g_child)))
    return;
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), sig);
}

/// The dispositions reap found at start, restored in CMD before exec: CMD gets the signal
/// state it would have had without reap (an ignored SIGINT of `nohup`, say).
struct InheritedSignals {
  struct sigaction forwarded[std::size(kForwarded)];
  struct sigaction chld;
  sigset_t mask;
};

/// Starts `command` as a child with the forwarded signals blocked in reap until the child's
/// pid is recorded (a signal in between is delivered, and forwarded, right after). Returns
/// its pid, or -1 with `err` set to the errno of the failed exec (reported through a
/// close-on-exec pipe).
pid_t spawn(const std::vector<std::string>& command, const InheritedSignals& inherited, int& err) {
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
    for (std::size_t i = 0; i < std::size(kForwarded); ++i)
      ::sigaction(kForwarded[i], &inherited.forwarded[i], nullptr);
    ::sigaction(SIGCHLD, &inherited.chld, nullptr);
    ::sigprocmask(SIG_SETMASK, &inherited.mask, nullptr);
    ::execvp(argv[0], argv.data());
    int e = errno;
    ssize_t ignored = ::write(pipefd[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  if (pid > 0) g_child = pid;
  ::close(pipefd[1]);
  util::UniqueFd reader(pipefd[0]);
  if (pid < 0) {
    err = errno;
    return -1;
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(reader.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof child_errno) {
    g_child = 0;
    ::waitpid(pid, nullptr, 0);
    err = child_errno;
    return -1;
  }
  return pid;
}

/// Waits for `child`, collecting adopted orphans that exit meanwhile. Returns its wait
/// status. SIGCHLD is at its default disposition here (an inherited SIG_IGN would make the
/// kernel discard the status).
int wait_for(pid_t child) {
  for (;;) {
    int status = 0;
    pid_t got = ::waitpid(-1, &status, 0);
    if (got == child) return status;
    if (got < 0 && errno != EINTR)
      throw std::runtime_error(
          fmt::format("run: lost track of the command (waitpid: {})", std::strerror(errno)));
  }
}

void collect_zombies() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

/// Anything the run left behind is a leak, cleaned or not: every process that was still
/// there (reaped, killed, survived, kept) and every segment of the run still in the
/// directory when it ended (unlinked, kept, or failed).
bool leaked(const core::Report& r) {
  for (const auto& sw : r.sweeps)  // anything of the run's own left in a sweep is a leak
    if (!sw.items.empty()) return true;
  for (const auto& s : r.shm)
    if (s.verdict != core::ShmVerdictWord::Gone) return true;
  return !r.processes.empty();
}

}  // namespace

int run_command(const Options& o) {
  // Everything CMD leaves behind must end up below reap, whoever its parent was.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    throw Refusal(fmt::format("run: cannot become a subreaper: {}", std::strerror(errno)));

  Sinks sinks(o);  // --log-json, --metrics-file: opened before CMD starts
  RunScope scope;
  os::ShmDir dir;
  if (o.shm) {
    open_run_sweep_dir(o, dir);
    for (const auto& e : dir.list()) scope.preexisting.insert(os::identity(e.st));
    scope.dir = &dir;
  }
  ExtraPreexisting extra = snapshot_extra(o);
  scope.extra = &extra;

  InheritedSignals inherited;
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  ::sigprocmask(SIG_BLOCK, &forwarded, &inherited.mask);
  struct sigaction sa {};
  sa.sa_sigaction = forward_signal;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < std::size(kForwarded); ++i)
    ::sigaction(kForwarded[i], &sa, &inherited.forwarded[i]);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGCHLD, &dfl, &inherited.chld);

  int err = 0;
  pid_t child = spawn(o.command, inherited, err);
  ::sigprocmask(SIG_SETMASK, &inherited.mask, nullptr);  // pending signals are forwarded now
  if (child < 0)
    throw Refusal(fmt::format("run: cannot run '{}': {}",
                              util::escape_for_terminal(o.command.front()), std::strerror(err)));
  int status = wait_for(child);
  ::sigprocmask(SIG_BLOCK, &forwarded, nullptr);
  g_child = 0;
  for (std::size_t i = 0; i < std::size(kForwarded); ++i)
    ::sigaction(kForwarded[i], &inherited.forwarded[i], nullptr);
  ::sigprocmask(SIG_SETMASK, &inherited.mask, nullptr);

  int command_exit = WIFEXITED(status)     ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                           : 1;
  core::Report report;
  report.command_status = command_exit;
  std::ostream& out = o.json ? std::cout : std::cerr;
  try {
    execute(o, &scope, report);
  } catch (const std::exception& e) {
    collect_zombies();
    if (!report.acted) {  // nothing done after CMD: its status still stands, if it failed
      std::cerr << "reap: error: " << util::escape_for_terminal(e.what()) << "\n";
      return command_exit != 0 ? command_exit : 2;
    }
    report.final_exit_code = command_exit != 0 ? command_exit : 1;
    sinks.print_report(report, out, o.json ? STDOUT_FILENO : STDERR_FILENO);
    sinks.record(report);
    std::cerr << "reap: error: " << util::escape_for_terminal(e.what())
              << " (after acting: the report above says what was done)\n";
    return *report.final_exit_code;
  }
  collect_zombies();

  int code = command_exit;
  if (code == 0 && o.fail_on_leak && leaked(report)) code = 1;
  report.final_exit_code = code;
  sinks.print_report(report, out, o.json ? STDOUT_FILENO : STDERR_FILENO);
  sinks.record(report);
  return code;
}

}  // namespace reap::cli
