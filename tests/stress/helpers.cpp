// Helper modes of the test binary (`--stress-helper MODE ...`), for processes that must be
// exec'd (under setpriv or with a huge argv):
//   hold [--nondumpable] [--open PATH]...   opens each PATH (read-write, else read-only),
//                                           optionally clears the dumpable flag, reports
//                                           "ready PID" on fd 3 and sleeps until killed
//   sleep ARG...                            reports "ready PID" on fd 3 and sleeps (its argv
//                                           is the point: a long cmdline)
// Inherited fds (from spawn(..., inherit)) stay open, so a helper can hold a file it could
// not open under its own uid.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "stress_util.hpp"

namespace reap_stress {

int helper_main(int argc, char** argv) {
  std::string mode = argv[0];
  bool nondumpable = false;
  if (mode == "hold") {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--nondumpable") {
        nondumpable = true;
      } else if (a == "--open" && i + 1 < argc) {
        const char* path = argv[++i];
        int fd = ::open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0) fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          std::fprintf(stderr, "stress helper: open %s: %s\n", path, std::strerror(errno));
          return 111;
        }
      }
    }
    if (nondumpable && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return 112;
  } else if (mode == "rss") {
    // rss CMD ARGS...: runs CMD from this small fresh process (a child forked from the big
    // test process would inherit its peak RSS) and appends "reap-stress-maxrss-kib N" to
    // stderr; exits as CMD did.
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execvp(argv[1], argv + 1);
      ::_exit(127);
    }
    int status = 0;
    struct rusage ru {};
    while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    std::fprintf(stderr, "\nreap-stress-maxrss-kib %ld\n", ru.ru_maxrss);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
  } else if (mode != "sleep") {
    std::fprintf(stderr, "stress helper: unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::string line = "ready " + std::to_string(::getpid()) + "\n";
  write_all(3, line.data(), line.size());
  ::close(3);
  for (;;) ::pause();
}

}  // namespace reap_stress
