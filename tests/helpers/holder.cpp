// reap-holder: a test helper that holds files the way real programs hold POSIX shm segments.
//
//   reap-holder [--ready-fd N] [--drop UID:GID] [--nondumpable] [--comm NAME]
//               [--leader-exits] [--big MIB] [--exit] SPEC...
//
// Each SPEC is one of
//   fd:PATH      open PATH and keep the descriptor
//   mmap:PATH    open PATH, mmap it MAP_SHARED, close the descriptor (only the mapping holds it)
//   thread:PATH  a thread calls unshare(CLONE_FILES) and then opens PATH, so only that
//                thread's private fd table refers to the file
//   sysv:KEY     create a SysV shared memory segment (64 KiB, mode 0600) with KEY (hex with
//                0x, or decimal); nothing attaches it
//   shmat:KEY    attach the existing SysV segment KEY and stay attached
//   mq:NAME      open (creating it, mode 0600) the POSIX message queue /NAME and keep it open
//   uds:PATH     bind a listening unix stream socket to PATH and keep it (with --exit the
//                socket file is left behind with nothing bound: a stale socket file)
// Tests that use sysv, shmat or mq run in a private IPC namespace (tests/e2e/fixture).
// Files are opened as the invoking user; --drop then switches to UID:GID (no supplementary
// groups) and --nondumpable clears the dumpable flag afterwards (so /proc/PID/fd and maps
// cannot be read by the same uid). --comm sets the process name (prctl PR_SET_NAME);
// --big touches MIB MiB of anonymous memory (a process that takes a while to exit);
// --leader-exits makes the main thread exit after "ready" while another thread lives on (the
// leader becomes a zombie, /proc/PID/maps and fd empty). When everything is held the holder
// writes "ready <pid>\n" to the ready fd (default: stdout) and sleeps until it is killed, or
// with --exit exits at once (a creator that is gone, leaving what it made behind).
#include <fcntl.h>
#include <grp.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "reap-holder: %s: %s\n", what.c_str(), std::strerror(errno));
  std::_Exit(111);
}

void write_all(int fd, const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write ready");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void hold_by_mmap(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) die("fstat " + path);
  size_t len = st.st_size > 0 ? static_cast<size_t>(st.st_size) : 1;
  if (st.st_size == 0) {
    // A zero-length file cannot be mapped; give it one page.
    if (::ftruncate(fd, 4096) != 0) die("ftruncate " + path);
    len = 4096;
  }
  int flags = ::fcntl(fd, F_GETFL);
  int prot = (flags & O_ACCMODE) == O_RDWR ? PROT_READ | PROT_WRITE : PROT_READ;
  void* map = ::mmap(nullptr, len, prot, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) die("mmap " + path);
  ::close(fd);  // only the mapping refers to the file now
}

key_t parse_key(const std::string& text) {
  return static_cast<key_t>(std::strtol(text.c_str(), nullptr, 0));
}

void sysv_create(const std::string& key) {
  if (::shmget(parse_key(key), 64 << 10, IPC_CREAT | IPC_EXCL | 0600) < 0) die("shmget " + key);
}

void sysv_attach(const std::string& key) {
  int id = ::shmget(parse_key(key), 0, 0);
  if (id < 0) die("shmget " + key);
  if (::shmat(id, nullptr, SHM_RDONLY) == reinterpret_cast<void*>(-1)) die("shmat " + key);
}

void mq_hold(const std::string& name) {
  mq_attr attr{};
  attr.mq_maxmsg = 4;
  attr.mq_msgsize = 64;
  if (::mq_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600, &attr) == (mqd_t)-1)
    die("mq_open /" + name);
}

void uds_bind(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind " + path);
  if (::listen(fd, 1) != 0) die("listen " + path);
}

}  // namespace

int main(int argc, char** argv) {
  int ready_fd = 1;
  bool drop = false;
  uid_t drop_uid = 0;
  gid_t drop_gid = 0;
  bool nondumpable = false;
  std::vector<std::string> thread_paths;
  std::string comm;
  bool leader_exits = false;
  unsigned long big_mib = 0;
  bool exit_when_ready = false;

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--ready-fd" && i + 1 < argc) {
      ready_fd = std::atoi(argv[++i]);
    } else if (arg == "--drop" && i + 1 < argc) {
      unsigned long u = 0, g = 0;
      if (std::sscanf(argv[++i], "%lu:%lu", &u, &g) != 2) {
        std::fprintf(stderr, "reap-holder: bad --drop\n");
        return 2;
      }
      drop = true;
      drop_uid = static_cast<uid_t>(u);
      drop_gid = static_cast<gid_t>(g);
    } else if (arg == "--nondumpable") {
      nondumpable = true;
    } else if (arg == "--comm" && i + 1 < argc) {
      comm = argv[++i];
    } else if (arg == "--leader-exits") {
      leader_exits = true;
    } else if (arg == "--big" && i + 1 < argc) {
      big_mib = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--exit") {
      exit_when_ready = true;
    } else if (arg.rfind("sysv:", 0) == 0) {
      sysv_create(arg.substr(5));
    } else if (arg.rfind("shmat:", 0) == 0) {
      sysv_attach(arg.substr(6));
    } else if (arg.rfind("mq:", 0) == 0) {
      mq_hold(arg.substr(3));
    } else if (arg.rfind("uds:", 0) == 0) {
      uds_bind(arg.substr(4));
    } else if (arg.rfind("fd:", 0) == 0) {
      int fd = ::open(arg.c_str() + 3, O_RDONLY | O_CLOEXEC);
      if (fd < 0) die("open " + arg.substr(3));
    } else if (arg.rfind("mmap:", 0) == 0) {
      hold_by_mmap(arg.substr(5));
    } else if (arg.rfind("thread:", 0) == 0) {
      thread_paths.push_back(arg.substr(7));
    } else {
      std::fprintf(stderr, "reap-holder: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }

  // Each thread unshares its fd table first, then opens the file, and signals the main
  // thread through a pipe created before the unshare (the copied table still has it).
  for (const std::string& path : thread_paths) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) die("pipe2");
    std::thread([path, p]() {
      if (::unshare(CLONE_FILES) != 0) die("unshare(CLONE_FILES)");
      // Drop the copied pipe ends we do not use (harmless in the private table).
      ::close(p[0]);
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) die("open " + path);
      char c = 'k';
      if (::write(p[1], &c, 1) != 1) die("thread ready");
      ::close(p[1]);
      for (;;) ::pause();
    }).detach();
    char c = 0;
    ssize_t n;
    do {
      n = ::read(p[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) die("thread did not report");
    ::close(p[0]);
    ::close(p[1]);
  }

  if (drop) {
    if (::setgroups(0, nullptr) != 0) die("setgroups");
    if (::setresgid(drop_gid, drop_gid, drop_gid) != 0) die("setresgid");
    if (::setresuid(drop_uid, drop_uid, drop_uid) != 0) die("setresuid");
    // Changing credentials clears the dumpable flag; restore it unless asked otherwise.
    if (!nondumpable && ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) die("PR_SET_DUMPABLE 1");
  }
  if (nondumpable && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("PR_SET_DUMPABLE 0");

  if (!comm.empty() && ::prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0) != 0) die("PR_SET_NAME");
  if (big_mib > 0) {
    size_t len = big_mib << 20;
    // MAP_POPULATE faults every page in at once (much faster than touching each).
    void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED) die("mmap big");
  }

  write_all(ready_fd, "ready " + std::to_string(::getpid()) + "\n");
  if (ready_fd != 1) ::close(ready_fd);
  if (exit_when_ready) return 0;
  if (leader_exits) {
    std::thread([] {
      for (;;) ::pause();
    }).detach();
    ::syscall(SYS_exit, 0);  // this thread only: the process lives on in the other one
  }
  for (;;) ::pause();
}
