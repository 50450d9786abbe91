// bench_kill_floor: the floor of a process reap, for bench/run.sh.
//
//   bench_kill_floor [--signal INT|KILL] [--timeout SECONDS] (--pids-file F | PID...)
//
// Handed the pids (no discovery at all), it pidfd_opens each, sends the signal to each
// (pidfd_send_signal; SIGINT by default, as reap does for cooperative targets; SIGKILL for
// a population that ignores SIGINT, as reap does once it sees SigIgn), then waits on all the
// pidfds with epoll until every process has exited (a zombie counts as exited) and exits 0.
// Exits 1 when some process was still alive after --timeout (default 10 s), 2 on usage
// errors or when a pid cannot be opened (ESRCH: the process is already gone, which would
// make the floor look cheaper than the work it stands for). No start-time check, no
// SIGCONT, no report: a lower bound, not a tool.
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "util/clock.hpp"

namespace {

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "bench_kill_floor: error: %s\n"
               "usage: bench_kill_floor [--signal INT|KILL] [--timeout S] "
               "(--pids-file F | PID...)\n",
               msg);
  std::exit(2);
}

bool parse_pid(const char* s, pid_t* out) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || (*end != '\0' && *end != '\n') || v <= 0 || v > 0x3fffffff)
    return false;
  *out = static_cast<pid_t>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int sig = SIGINT;
  double timeout = 10.0;
  std::vector<pid_t> pids;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage("option needs a value");
      return argv[++i];
    };
    if (a == "--signal") {
      std::string_view s = val();
      if (s == "INT" || s == "SIGINT")
        sig = SIGINT;
      else if (s == "KILL" || s == "SIGKILL")
        sig = SIGKILL;
      else if (s == "TERM" || s == "SIGTERM")
        sig = SIGTERM;
      else
        usage("--signal is INT, TERM or KILL");
    } else if (a == "--timeout") {
      timeout = std::atof(val());
      if (timeout <= 0) usage("bad --timeout");
    } else if (a == "--pids-file") {
      FILE* f = std::fopen(val(), "r");
      if (!f) usage("cannot open --pids-file");
      char line[64];
      while (std::fgets(line, sizeof line, f)) {
        if (line[0] == '\n') continue;
        pid_t p;
        if (!parse_pid(line, &p)) usage("bad pid in --pids-file");
        pids.push_back(p);
      }
      std::fclose(f);
    } else {
      pid_t p;
      if (!parse_pid(argv[i], &p)) usage("bad pid");
      pids.push_back(p);
    }
  }
  if (pids.empty()) usage("no pids");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    std::perror("bench_kill_floor: epoll_create1");
    return 2;
  }
  std::vector<int> fds;
  fds.reserve(pids.size());
  for (pid_t p : pids) {
    int fd = static_cast<int>(syscall(SYS_pidfd_open, p, 0));
    if (fd < 0) {
      std::fprintf(stderr, "bench_kill_floor: pidfd_open %d: %s\n", p, std::strerror(errno));
      return 2;
    }
    fds.push_back(fd);
  }
  // Signal everything first, then register: the same order as a tool that signals a whole
  // plan and then waits.
  for (size_t k = 0; k < fds.size(); ++k) {
    if (syscall(SYS_pidfd_send_signal, fds[k], sig, nullptr, 0) != 0 && errno != ESRCH) {
      std::fprintf(stderr, "bench_kill_floor: signal %d: %s\n", pids[k], std::strerror(errno));
      return 2;
    }
  }
  for (size_t k = 0; k < fds.size(); ++k) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = k;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev) != 0) {
      std::perror("bench_kill_floor: epoll_ctl");
      return 2;
    }
  }
  size_t left = fds.size();
  double deadline = reap::util::monotonic_seconds() + timeout;
  std::vector<epoll_event> evs(256);
  while (left > 0) {
    double rest = deadline - reap::util::monotonic_seconds();
    if (rest <= 0) break;
    int n =
        epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), static_cast<int>(rest * 1000) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("bench_kill_floor: epoll_wait");
      return 2;
    }
    for (int j = 0; j < n; ++j) {
      size_t k = evs[j].data.u64;
      epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], nullptr);
      close(fds[k]);
      fds[k] = -1;
      --left;
    }
  }
  if (left > 0) {
    std::fprintf(stderr, "bench_kill_floor: %zu of %zu processes still alive after %.1f s\n", left,
                 pids.size(), timeout);
    return 1;
  }
  return 0;
}
