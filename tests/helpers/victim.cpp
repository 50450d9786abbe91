// reap-victim: a test helper that plays a leaked process.
//
//   reap-victim [--ready-fd N] [--marker TEXT] [--chdir DIR] [--double-fork] [--subreaper]
//               [--on-int exit|ignore|linger|fork] [--stop] [--tree DEPTH WIDTH] [--zombie]
//               [--drop UID:GID] [--child "ARGS"]...
//
//   --marker TEXT   re-exec with argv[0] "reap-victim[TEXT]" so a test can --match it
//   --chdir DIR     working directory (orphan-mode cwd)
//   --double-fork   fork, and let the first process exit as soon as the rest has reported
//                   ready, so the rest runs orphaned (adopted by the nearest subreaper or
//                   PID 1)
//   --subreaper     PR_SET_CHILD_SUBREAPER, so orphaned descendants stay in this subtree
//   --on-int MODE   exit: exit 130 on SIGINT (default); ignore: SIG_IGN;
//                   linger: catch SIGINT and keep running; fork: fork a child (which exits on
//                   the next SIGINT) and then exit; daemonize: fork a child that calls
//                   setsid() and forks a grandchild that ignores SIGINT and execs this program
//                   again (same --marker), then both exit; count: report "sigints N" half a
//                   second after the first SIGINT, then exit; become:UID: switch every uid to
//                   UID (needs a saved uid of 0, see --keep-saved-root) and keep running
//   --keep-saved-root  with --drop: keep 0 as the saved uid
//   --stop          raise SIGSTOP after reporting ready
//   --tree D W      fork W children, each of which forks W more, D levels deep
//   --zombie        fork a child that exits at once and is never waited for
//   --drop U:G      switch to UID:GID (no supplementary groups)
//   --child ARGS    fork and exec this program with ARGS (split on spaces) as a child
//
// Every live process writes "node <pid>\n" to the ready fd once it is set up (a zombie child
// is reported as "zombie <pid>\n", a child forked on SIGINT as "forked <pid>\n"). The ready fd
// is inherited by all of them, so a test reads one line per process. Default ready fd: stdout.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

enum class OnInt { kExit, kIgnore, kLinger, kFork, kDaemonize, kCount, kBecome };

int g_ready_fd = 1;
int g_double_fork_hold = -1;  // --double-fork: closed once this process reported ready
volatile sig_atomic_t g_fork_on_int = 0;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "reap-victim: %s: %s\n", what, std::strerror(errno));
  std::_Exit(111);
}

// Async-signal-safe "<tag> <pid>\n" to the ready fd.
void report(const char* tag, pid_t pid) {
  char buf[64];
  size_t n = 0;
  for (const char* t = tag; *t != '\0' && n < 32; ++t) buf[n++] = *t;
  buf[n++] = ' ';
  char digits[24];
  size_t d = 0;
  auto v = static_cast<unsigned long>(pid);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (d > 0) buf[n++] = digits[--d];
  buf[n++] = '\n';
  ssize_t w;
  do {
    w = ::write(g_ready_fd, buf, n);
  } while (w < 0 && errno == EINTR);
}

void on_sigint(int) {
  if (g_fork_on_int != 0) {
    pid_t child = ::fork();
    if (child == 0) {
      g_fork_on_int = 0;  // the new child exits on the next SIGINT
      report("forked", ::getpid());
      return;
    }
    ::_exit(130);
  }
  ::_exit(130);
}

void on_sigint_linger(int) {}

// --on-int daemonize: argv of the grandchild, prepared before any signal arrives.
std::vector<std::string> g_daemon_args;
std::vector<char*> g_daemon_argv;
std::string g_self_path;

// A dying process that double-forks: the child calls setsid() and forks a grandchild that
// ignores SIGINT and execs this program again (same marker, --on-int ignore); the child and
// this process exit. Only async-signal-safe calls.
void on_sigint_daemonize(int) {
  pid_t a = ::fork();
  if (a == 0) {
    ::setsid();
    pid_t g = ::fork();
    if (g == 0) {
      ::signal(SIGINT, SIG_IGN);
      ::execv(g_self_path.c_str(), g_daemon_argv.data());
      ::_exit(111);
    }
    ::_exit(0);
  }
  ::_exit(130);
}

volatile sig_atomic_t g_sigints = 0;
void on_sigint_count(int) {
  g_sigints = g_sigints + 1;
}

// --on-int become:UID: a process whose saved uid is 0 switches all its uids to UID when
// SIGINT arrives, so the sender may no longer signal it (SIGKILL then fails with EPERM).
unsigned long g_become_uid = 0;
void on_sigint_become(int) {
  if (::setresuid(0, 0, 0) == 0)
    ::setresuid(static_cast<uid_t>(g_become_uid), static_cast<uid_t>(g_become_uid),
                static_cast<uid_t>(g_become_uid));
}

void install(OnInt mode) {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  switch (mode) {
    case OnInt::kIgnore:
      sa.sa_handler = SIG_IGN;
      break;
    case OnInt::kLinger:
      sa.sa_handler = on_sigint_linger;
      break;
    case OnInt::kFork:
      g_fork_on_int = 1;
      sa.sa_handler = on_sigint;
      break;
    case OnInt::kExit:
      sa.sa_handler = on_sigint;
      break;
    case OnInt::kDaemonize:
      sa.sa_handler = on_sigint_daemonize;
      break;
    case OnInt::kCount:
      sa.sa_handler = on_sigint_count;
      break;
    case OnInt::kBecome:
      sa.sa_handler = on_sigint_become;
      break;
  }
  if (::sigaction(SIGINT, &sa, nullptr) != 0) die("sigaction");
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

[[noreturn]] void idle(bool wait_children) {
  for (;;) {
    if (wait_children) {
      int status = 0;
      pid_t r = ::waitpid(-1, &status, 0);
      if (r > 0 || errno == EINTR) continue;
    }
    ::pause();
  }
}

}  // namespace

// reap's --match compares with the program (argv[0], the executable, an interpreter's
// script), not with arguments. A victim given --marker M re-executes itself once with argv[0]
// "reap-victim[M]", so the program a test matches on carries its unique marker.
void put_marker_in_program_name(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) != "--marker") continue;
    std::string name = std::string("reap-victim[") + argv[i + 1] + "]";
    if (name == argv[0]) return;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) die("readlink /proc/self/exe");
    self[n] = 0;
    argv[0] = name.data();
    ::execv(self, argv);
    die("execv");
  }
}

int main(int argc, char** argv) {
  put_marker_in_program_name(argc, argv);
  std::string chdir_to;
  bool double_fork = false;
  bool subreaper = false;
  bool stop = false;
  bool zombie = false;
  int tree_depth = 0;
  int tree_width = 0;
  bool drop = false;
  unsigned long drop_uid = 0;
  unsigned long drop_gid = 0;
  OnInt mode = OnInt::kExit;
  std::vector<std::string> children;
  std::string marker;
  bool keep_saved_root = false;

  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](int n) {
      if (i + n >= argc) {
        std::fprintf(stderr, "reap-victim: %s needs %d argument(s)\n", a.c_str(), n);
        std::exit(2);
      }
    };
    if (a == "--ready-fd") {
      need(1);
      g_ready_fd = std::atoi(argv[++i]);
    } else if (a == "--marker") {
      need(1);
      marker = argv[++i];
    } else if (a == "--chdir") {
      need(1);
      chdir_to = argv[++i];
    } else if (a == "--double-fork") {
      double_fork = true;
    } else if (a == "--subreaper") {
      subreaper = true;
    } else if (a == "--on-int") {
      need(1);
      std::string m = argv[++i];
      if (m == "exit") {
        mode = OnInt::kExit;
      } else if (m == "ignore") {
        mode = OnInt::kIgnore;
      } else if (m == "linger") {
        mode = OnInt::kLinger;
      } else if (m == "fork") {
        mode = OnInt::kFork;
      } else if (m == "daemonize") {
        mode = OnInt::kDaemonize;
      } else if (m == "count") {
        mode = OnInt::kCount;
      } else if (m.rfind("become:", 0) == 0) {
        mode = OnInt::kBecome;
        g_become_uid = std::strtoul(m.c_str() + 7, nullptr, 10);
      } else {
        std::fprintf(stderr, "reap-victim: bad --on-int %s\n", m.c_str());
        return 2;
      }
    } else if (a == "--stop") {
      stop = true;
    } else if (a == "--tree") {
      need(2);
      tree_depth = std::atoi(argv[++i]);
      tree_width = std::atoi(argv[++i]);
    } else if (a == "--zombie") {
      zombie = true;
    } else if (a == "--drop") {
      need(1);
      if (std::sscanf(argv[++i], "%lu:%lu", &drop_uid, &drop_gid) != 2) {
        std::fprintf(stderr, "reap-victim: bad --drop\n");
        return 2;
      }
      drop = true;
    } else if (a == "--keep-saved-root") {
      keep_saved_root = true;
    } else if (a == "--child") {
      need(1);
      children.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "reap-victim: unknown argument %s\n", a.c_str());
      return 2;
    }
  }

  if (double_fork) {
    // The first process exits once the rest has reported ready (the pipe's write end is
    // closed right after "node"), so a test that waits for it finds every line written: a
    // reap right after it cannot catch the orphan before it said who it is.
    int hold[2];
    if (::pipe2(hold, O_CLOEXEC) != 0) die("pipe2");
    pid_t p = ::fork();
    if (p < 0) die("fork");
    if (p > 0) {
      ::close(hold[1]);
      char c;
      while (::read(hold[0], &c, 1) < 0 && errno == EINTR) {
      }
      ::_exit(0);  // the rest is orphaned once this exits
    }
    ::close(hold[0]);
    g_double_fork_hold = hold[1];
  }
  if (!chdir_to.empty() && ::chdir(chdir_to.c_str()) != 0) die("chdir");
  if (drop) {
    if (::setgroups(0, nullptr) != 0) die("setgroups");
    if (::setresgid(static_cast<gid_t>(drop_gid), static_cast<gid_t>(drop_gid),
                    static_cast<gid_t>(drop_gid)) != 0)
      die("setresgid");
    if (::setresuid(static_cast<uid_t>(drop_uid), static_cast<uid_t>(drop_uid),
                    keep_saved_root ? 0 : static_cast<uid_t>(drop_uid)) != 0)
      die("setresuid");
    // Changing credentials clears the dumpable flag; a plain process of that uid has it.
    if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) die("PR_SET_DUMPABLE");
  }
  if (subreaper && ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die("PR_SET_CHILD_SUBREAPER");
  if (mode == OnInt::kDaemonize) {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) die("readlink /proc/self/exe");
    g_self_path.assign(buf, static_cast<size_t>(n));
    g_daemon_args = {"reap-victim", "--on-int", "ignore", "--ready-fd", std::to_string(g_ready_fd)};
    if (!marker.empty()) g_daemon_args.insert(g_daemon_args.end(), {"--marker", marker});
    for (std::string& a : g_daemon_args) g_daemon_argv.push_back(a.data());
    g_daemon_argv.push_back(nullptr);
  }
  install(mode);

  if (zombie) {
    pid_t z = ::fork();
    if (z < 0) die("fork");
    if (z == 0) ::_exit(0);
    // Wait until it really is a zombie before reporting, without reaping it.
    siginfo_t si{};
    if (::waitid(P_PID, static_cast<id_t>(z), &si, WEXITED | WNOWAIT) != 0) die("waitid");
    report("zombie", z);
  }

  // Tree: this process forks tree_width children, each with one level less.
  for (int depth = tree_depth; depth > 0; --depth) {
    bool is_child = false;
    for (int w = 0; w < tree_width && !is_child; ++w) {
      pid_t c = ::fork();
      if (c < 0) die("fork");
      is_child = c == 0;
    }
    if (!is_child) break;  // done forking; a child goes on one level down
  }

  // Exec the real path (not /proc/self/exe) so the child's comm is "reap-victim".
  std::string self_path;
  if (!children.empty()) {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0) die("readlink /proc/self/exe");
    self_path.assign(buf, static_cast<size_t>(n));
  }
  for (const std::string& spec : children) {
    std::vector<std::string> args = split(spec);
    args.insert(args.begin(), "reap-victim");
    args.emplace_back("--ready-fd");
    args.push_back(std::to_string(g_ready_fd));
    pid_t c = ::fork();
    if (c < 0) die("fork");
    if (c == 0) {
      std::vector<char*> cargv;
      for (std::string& s : args) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      ::execv(self_path.c_str(), cargv.data());
      die("execv");
    }
  }

  report("node", ::getpid());
  if (g_double_fork_hold >= 0) ::close(g_double_fork_hold);
  if (stop) ::raise(SIGSTOP);
  if (mode == OnInt::kCount) {
    // Report how many SIGINTs arrived, half a second after the first one, then exit.
    while (g_sigints == 0) ::pause();
    ::usleep(500000);
    report("sigints", static_cast<pid_t>(g_sigints));
    ::_exit(0);
  }
  idle(!zombie);
}
