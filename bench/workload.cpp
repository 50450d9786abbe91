// bench_workload: the synthetic population for bench/run.sh.
//
//   bench_workload shm   --dir DIR --holders N --segs K --unheld M --ready-file F
//                        [--owner UID] [--size BYTES] [--remove-dir]
//       N holder processes (fork, no exec), each creating K segments in DIR: the even ones
//       mmapped (MAP_SHARED) with the fd closed, the odd ones kept as open fds. Plus M unheld
//       segments. Every file is chowned to --owner (default 65534) with mode 0600. Writes F
//       once every holder is ready, then waits for SIGTERM/SIGINT/SIGHUP and tears down.
//   bench_workload fill  --dir DIR --unheld M [--owner UID] [--size BYTES] [--prefix P]
//       Creates M unheld segments and exits (the input of a real sweep).
//   bench_workload procs --count N --cwd DIR --marker TEXT --ready-file F
//                        [--ignore-sigint] [--layout orphan|tree]
//       N leaked processes (fork + exec of bench_workload with argv {TEXT, "victim"}, so TEXT
//       is their program name, argv[0], which is what reap --match compares) with DIR as
//       cwd. orphan: this process becomes a child subreaper and the intermediate parent
//       exits, so the victims are orphans adopted by us (reap --adopter OUR_PID). tree: an
//       intermediate parent stays alive (reap -p PARENT).
//       --ignore-sigint makes the victims ignore SIGINT. Victim pids go to F.pids.
//
// Teardown, also when this process dies: every child blocks on a "life" pipe whose only
// write end is ours and exits on EOF; direct children also get PR_SET_PDEATHSIG(SIGKILL),
// and on SIGTERM/SIGINT/SIGHUP we SIGKILL the children we have not reaped yet (their pids
// cannot be reused before we reap them) and remove what we created in DIR. We get SIGTERM
// ourselves when our parent (the driver) dies (PR_SET_PDEATHSIG).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_workload: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "bench_workload: error: %s\n", msg);
  std::exit(2);
}

struct Options {
  std::string mode;
  std::string dir;
  std::string ready_file;
  std::string cwd;
  std::string marker;
  std::string prefix = "psm_u";
  std::string layout = "orphan";
  long holders = 0;
  long segs = 0;
  long unheld = 0;
  long count = 0;
  long size = 65536;
  uid_t owner = 65534;
  bool remove_dir = false;
  bool ignore_sigint = false;
};

long to_long(const char* s) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0) usage("bad number");
  return v;
}

Options parse(int argc, char** argv) {
  if (argc < 2) usage("usage: bench_workload shm|fill|procs|victim [options]");
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) usage("option needs a value");
      return argv[++i];
    };
    if (a == "--dir")
      o.dir = val();
    else if (a == "--ready-file")
      o.ready_file = val();
    else if (a == "--cwd")
      o.cwd = val();
    else if (a == "--marker")
      o.marker = val();
    else if (a == "--prefix")
      o.prefix = val();
    else if (a == "--layout")
      o.layout = val();
    else if (a == "--holders")
      o.holders = to_long(val());
    else if (a == "--segs")
      o.segs = to_long(val());
    else if (a == "--unheld")
      o.unheld = to_long(val());
    else if (a == "--count")
      o.count = to_long(val());
    else if (a == "--size")
      o.size = to_long(val());
    else if (a == "--owner")
      o.owner = static_cast<uid_t>(to_long(val()));
    else if (a == "--remove-dir")
      o.remove_dir = true;
    else if (a == "--ignore-sigint")
      o.ignore_sigint = true;
    else
      usage("unknown option");
  }
  return o;
}

// ---- files -------------------------------------------------------------------------------

int create_segment(int dirfd, const std::string& name, const Options& o) {
  int fd = openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return -1;
  if (ftruncate(fd, o.size) != 0 || fchown(fd, o.owner, o.owner) != 0 || fchmod(fd, 0600) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

void fill(int dirfd, const Options& o) {
  for (long n = 0; n < o.unheld; ++n) {
    int fd = create_segment(dirfd, o.prefix + std::to_string(n), o);
    if (fd < 0) die("create unheld segment");
    close(fd);
  }
}

// Removes the regular files (and symlinks) directly in dirfd. Never recurses, never follows.
void clear_dir(int dirfd) {
  int fd = dup(dirfd);
  if (fd < 0) return;
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  closedir(d);
  for (const auto& n : names) {
    struct stat st {};
    if (fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
      unlinkat(dirfd, n.c_str(), 0);
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("open ready file");
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) die("write");
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) die("rename ready file");
}

// ---- children ----------------------------------------------------------------------------

struct Pipes {
  int life_r = -1, life_w = -1;    // children block on life_r; EOF when we are gone
  int ready_r = -1, ready_w = -1;  // children report readiness here
};

Pipes make_pipes() {
  Pipes p;
  int a[2], b[2];
  if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0) die("pipe2");
  p.life_r = a[0];
  p.life_w = a[1];
  p.ready_r = b[0];
  p.ready_w = b[1];
  return p;
}

sigset_t handled_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGHUP);
  sigaddset(&s, SIGCHLD);
  return s;
}

// In a fresh child: die with the parent, default signal state, stdio on /dev/null.
void child_common(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  int nul = open("/dev/null", O_RDWR);
  if (nul >= 0) {
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    if (nul > 2) close(nul);
  }
}

[[noreturn]] void block_until_eof(int fd) {
  char c;
  for (;;) {
    ssize_t r = read(fd, &c, 1);
    if (r == 0 || (r < 0 && errno != EINTR)) _exit(0);
  }
}

// The write end of the life pipe and our own fds must not stay open in a child, or the
// children would never see EOF.
void close_parent_fds(const Pipes& p, int sfd) {
  close(p.life_w);
  close(p.ready_r);
  close(sfd);
}

[[noreturn]] void holder_main(pid_t parent, const Pipes& p, int sfd, int dirfd, long index,
                              const Options& o) {
  child_common(parent);
  close_parent_fds(p, sfd);
  std::vector<void*> maps;
  std::vector<int> fds;
  char status = 'R';
  for (long j = 0; j < o.segs; ++j) {
    std::string name = "psm_h" + std::to_string(index) + "_" + std::to_string(j);
    int fd = create_segment(dirfd, name, o);
    if (fd < 0) {
      status = 'E';
      break;
    }
    if (j % 2 == 0) {
      void* m =
          mmap(nullptr, static_cast<size_t>(o.size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      close(fd);
      if (m == MAP_FAILED) {
        status = 'E';
        break;
      }
      maps.push_back(m);
    } else {
      fds.push_back(fd);
    }
  }
  close(dirfd);
  if (write(p.ready_w, &status, 1) != 1) _exit(1);
  close(p.ready_w);
  if (status != 'R') _exit(1);
  block_until_eof(p.life_r);
}

// Waits until `want` readiness bytes arrived on ready_r (or a bytes-per-child record of
// pids for victims), handling termination signals meanwhile. Returns false on failure.
bool wait_ready(int ready_r, int sfd, long want, size_t rec, std::vector<pid_t>* pids, bool* stop) {
  long got = 0;
  std::string buf;
  while (got < want) {
    pollfd pf[2] = {{ready_r, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(pf, 2, 60000) <= 0) {
      std::fprintf(stderr, "bench_workload: timed out waiting for children (%ld/%ld)\n", got, want);
      return false;
    }
    if (pf[1].revents & POLLIN) {
      signalfd_siginfo si{};
      if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD) {
        *stop = true;
        return false;
      }
    }
    if (pf[0].revents & (POLLIN | POLLHUP)) {
      char tmp[4096];
      ssize_t r = read(ready_r, tmp, sizeof tmp);
      if (r <= 0) {
        std::fprintf(stderr, "bench_workload: children went away (%ld/%ld ready)\n", got, want);
        return false;
      }
      buf.append(tmp, static_cast<size_t>(r));
      while (buf.size() >= rec) {
        if (rec == 1 && buf[0] != 'R') {
          std::fprintf(stderr, "bench_workload: a holder failed to set up its segments\n");
          return false;
        }
        if (pids && rec == sizeof(pid_t)) {
          pid_t pid;
          std::memcpy(&pid, buf.data(), sizeof pid);
          pids->push_back(pid);
        }
        buf.erase(0, rec);
        ++got;
      }
    }
  }
  return true;
}

struct Children {
  std::set<pid_t> live;  // direct children not yet reaped by us: safe to signal by pid
  void reap_some() {
    for (;;) {
      pid_t r = waitpid(-1, nullptr, WNOHANG);
      if (r <= 0) break;
      live.erase(r);
    }
  }
  void kill_all() {
    for (pid_t pid : live) kill(pid, SIGKILL);
    while (!live.empty()) {
      pid_t r = waitpid(-1, nullptr, 0);
      if (r < 0) break;
      live.erase(r);
    }
  }
};

int make_signalfd() {
  sigset_t s = handled_signals();
  if (sigprocmask(SIG_BLOCK, &s, nullptr) != 0) die("sigprocmask");
  // Tear down when the driver dies, even by SIGKILL (no trap runs then).
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) raise(SIGTERM);
  int sfd = signalfd(-1, &s, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  return sfd;
}

// Runs until a termination signal, reaping children as they exit.
void serve(int sfd, Children& kids) {
  for (;;) {
    signalfd_siginfo si{};
    ssize_t r = read(sfd, &si, sizeof si);
    if (r != sizeof si) {
      if (r < 0 && errno == EINTR) continue;
      return;
    }
    if (si.ssi_signo == SIGCHLD) {
      kids.reap_some();
      continue;
    }
    return;
  }
}

int run_shm(const Options& o) {
  if (o.dir.empty() || o.ready_file.empty()) usage("shm needs --dir and --ready-file");
  umask(0);
  int sfd = make_signalfd();
  int dirfd = open(o.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0) die("open --dir");
  Pipes p = make_pipes();
  Children kids;
  bool stop = false;
  bool ok = true;

  fill(dirfd, o);
  pid_t self = getpid();
  for (long i = 0; i < o.holders && ok; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("bench_workload: fork");
      ok = false;
      break;
    }
    if (pid == 0) holder_main(self, p, sfd, dirfd, i, o);
    kids.live.insert(pid);
  }
  close(p.ready_w);
  close(p.life_r);
  if (ok) ok = wait_ready(p.ready_r, sfd, o.holders, 1, nullptr, &stop);
  if (ok) {
    std::string text = "pid=" + std::to_string(self) + "\ndir=" + o.dir +
                       "\nholders=" + std::to_string(o.holders) +
                       "\nheld=" + std::to_string(o.holders * o.segs) +
                       "\nunheld=" + std::to_string(o.unheld) + "\n";
    write_file_atomic(o.ready_file, text);
    serve(sfd, kids);
  }
  close(p.life_w);
  kids.kill_all();
  clear_dir(dirfd);
  close(dirfd);
  if (o.remove_dir) rmdir(o.dir.c_str());
  return ok ? 0 : 1;
}

int run_fill(const Options& o) {
  if (o.dir.empty()) usage("fill needs --dir");
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // stop filling when the driver dies
  umask(0);
  int dirfd = open(o.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0) die("open --dir");
  fill(dirfd, o);
  close(dirfd);
  return 0;
}

[[noreturn]] void exec_victim(const std::string& exe, const Options& o, const Pipes& p) {
  // fd 3: life pipe (read end), fd 4: ready pipe (write end); nothing else survives exec.
  int life = fcntl(p.life_r, F_DUPFD, 10);
  int ready = fcntl(p.ready_w, F_DUPFD, 10);
  if (life < 0 || ready < 0 || dup2(life, 3) < 0 || dup2(ready, 4) < 0) _exit(1);
  close(life);
  close(ready);
  signal(SIGCHLD, SIG_DFL);
  if (chdir(o.cwd.c_str()) != 0) _exit(1);
  signal(SIGINT, o.ignore_sigint ? SIG_IGN : SIG_DFL);  // SIG_IGN survives exec
  // The marker is the program name (argv[0]): reap's --match compares the program (argv[0],
  // /proc/PID/exe, an interpreter's script), never the other arguments.
  std::string arg0 = o.marker;
  std::string arg1 = "victim";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  execv(exe.c_str(), argv);
  _exit(127);
}

int run_victim() {
  pid_t self = getpid();
  if (write(4, &self, sizeof self) != sizeof self) return 1;
  close(4);
  block_until_eof(3);
}

// The intermediate parent: forks the victims, then exits (orphan) or stays (tree).
[[noreturn]] void parent_main(pid_t gen, const std::string& exe, const Options& o, const Pipes& p,
                              int sfd) {
  child_common(gen);
  close_parent_fds(p, sfd);
  // tree: reaped victims must not linger as zombies of a parent that never waits.
  if (o.layout == "tree") signal(SIGCHLD, SIG_IGN);
  // Orphan layout: two forkers, this process and a helper, each fork and exec half of the
  // victims (making 3000 processes one after another took a minute on a busy 2-core VM).
  // The helper's victims are orphaned when it exits and, like ours, adopted by the
  // generator (a child subreaper); it is waited for here, so it leaves no zombie there.
  long from = 0, to = o.count;
  pid_t helper = -1;
  if (o.layout == "orphan" && o.count >= 64) {
    helper = fork();
    if (helper < 0) _exit(1);
    if (helper == 0)
      from = o.count / 2;
    else
      to = o.count / 2;
  }
  for (long i = from; i < to; ++i) {
    pid_t pid = fork();
    if (pid < 0) _exit(1);
    if (pid == 0) {
      // Victims do not die with this parent: in orphan layout it exits on purpose.
      exec_victim(exe, o, p);
    }
  }
  if (helper == 0) _exit(0);
  if (helper > 0) {
    int status = 0;
    if (waitpid(helper, &status, 0) != helper || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      _exit(1);
  }
  if (o.layout == "orphan") _exit(0);
  // tree: stay alive as the reap -p target until the life pipe closes.
  close(p.ready_w);
  block_until_eof(p.life_r);
}

int run_procs(const Options& o) {
  if (o.cwd.empty() || o.marker.empty() || o.ready_file.empty())
    usage("procs needs --cwd, --marker and --ready-file");
  if (o.layout != "orphan" && o.layout != "tree") usage("--layout is orphan or tree");
  char exe_buf[4096];
  ssize_t n = readlink("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
  if (n <= 0) die("readlink /proc/self/exe");
  std::string exe(exe_buf, static_cast<size_t>(n));

  int sfd = make_signalfd();
  if (o.layout == "orphan" && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("PR_SET_CHILD_SUBREAPER");
  Pipes p = make_pipes();
  Children kids;
  pid_t self = getpid();
  pid_t parent = fork();
  if (parent < 0) die("fork");
  if (parent == 0) parent_main(self, exe, o, p, sfd);
  kids.live.insert(parent);
  close(p.ready_w);
  close(p.life_r);
  bool stop = false;
  std::vector<pid_t> victims;
  bool ok = wait_ready(p.ready_r, sfd, o.count, sizeof(pid_t), &victims, &stop);
  if (ok && o.layout == "orphan") {
    // The intermediate parent exits after forking: its victims are now our children.
    if (waitpid(parent, nullptr, 0) == parent) kids.live.erase(parent);
    for (pid_t v : victims) kids.live.insert(v);
  }
  if (ok) {
    std::string list;
    for (pid_t v : victims) list += std::to_string(v) + "\n";
    write_file_atomic(o.ready_file + ".pids", list);
    std::string text = "pid=" + std::to_string(self) +
                       "\nparent=" + std::to_string(o.layout == "tree" ? parent : self) +
                       "\ncwd=" + o.cwd + "\nmarker=" + o.marker +
                       "\ncount=" + std::to_string(victims.size()) + "\n";
    write_file_atomic(o.ready_file, text);
    serve(sfd, kids);
  }
  close(p.life_w);  // victims (and a tree parent) exit on EOF
  kids.kill_all();
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "victim") return run_victim();
  signal(SIGPIPE, SIG_IGN);
  close_range(3, ~0U, 0);  // inherited fds would leak into every holder and victim
  Options o = parse(argc, argv);
  if (o.mode == "shm") return run_shm(o);
  if (o.mode == "fill") return run_fill(o);
  if (o.mode == "procs") return run_procs(o);
  usage("mode is shm, fill or procs");
}
