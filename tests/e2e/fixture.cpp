#include "fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#ifndef REAP_E2E_REAP_BIN
#define REAP_E2E_REAP_BIN "reap"
#endif
#ifndef REAP_E2E_HOLDER_BIN
#define REAP_E2E_HOLDER_BIN "reap-holder"
#endif
#ifndef REAP_E2E_VICTIM_BIN
#define REAP_E2E_VICTIM_BIN "reap-victim"
#endif

namespace reap_e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}

int sys_pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int sys_pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Child side of fork: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const std::vector<char*>& argv, int out_fd, int err_fd, int ready_fd,
                             const char* cwd) {
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) ::dup2(devnull, 0);
  if (out_fd >= 0) ::dup2(out_fd, 1);
  if (err_fd >= 0) ::dup2(err_fd, 2);
  if (ready_fd >= 0) {
    if (ready_fd == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(ready_fd, 3);
    }
  }
  if (cwd != nullptr && ::chdir(cwd) != 0) ::_exit(126);
  // Reset signal state the test runner may have changed.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  ::execvp(argv[0], argv.data());
  ::_exit(127);
}

std::string ns_link(const char* ns) {
  char buf[128];
  std::string path = std::string("/proc/self/ns/") + ns;
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The namespaces this test program started in (the machine's, or its runner's): a sweep of
// SysV segments or message queues is allowed only once the process has left them.
const std::string g_start_ipc_ns = ns_link("ipc");
const std::string g_start_mnt_ns = ns_link("mnt");

bool in_private_ipc() {
  std::string ipc = ns_link("ipc");
  std::string mnt = ns_link("mnt");
  return !ipc.empty() && !mnt.empty() && ipc != g_start_ipc_ns && mnt != g_start_mnt_ns;
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (std::string& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

bool unprivileged() {
  const char* v = std::getenv("REAP_E2E_UNPRIVILEGED");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

uid_t test_uid() {
  static const uid_t uid = [] {
    if (const char* forced = std::getenv("REAP_E2E_TEST_UID"); forced != nullptr && *forced)
      return static_cast<uid_t>(std::strtoul(forced, nullptr, 10));
    auto u = static_cast<uid_t>(61000 + ::getpid() % 4000);
    while (::getpwuid(u) != nullptr || ::getgrgid(static_cast<gid_t>(u)) != nullptr) ++u;
    return u;
  }();
  return uid;
}

uid_t spare_uid(int n) {
  return test_uid() + static_cast<uid_t>(100000 * n);
}

uid_t reap_uid() {
  return unprivileged() ? test_uid() : 0;
}

uid_t act_uid() {
  return unprivileged() ? test_uid() : 65534;
}

std::vector<std::string> setpriv_argv(uid_t uid) {
  if (uid == 0) return {};
  std::string u = std::to_string(uid);
  return {"setpriv", "--reuid=" + u, "--regid=" + u, "--clear-groups"};
}

std::string setpriv_words(uid_t uid) {
  std::string out;
  for (const std::string& w : setpriv_argv(uid)) out += w + " ";
  return out;
}

RunOptions as_reap_user(RunOptions opts) {
  if (unprivileged() && !opts.as_uid) opts.as_uid = reap_uid();
  return opts;
}

std::string reap_bin() {
  return env_or("REAP_E2E_REAP_BIN", REAP_E2E_REAP_BIN);
}
std::string holder_bin() {
  return env_or("REAP_E2E_HOLDER_BIN", REAP_E2E_HOLDER_BIN);
}
std::string victim_bin() {
  return env_or("REAP_E2E_VICTIM_BIN", REAP_E2E_VICTIM_BIN);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::vector<std::string> RunResult::out_lines() const {
  return split_lines(out);
}
std::vector<std::string> RunResult::err_lines() const {
  return split_lines(err);
}

bool has_line(const std::string& text, const std::string& line) {
  auto lines = split_lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

bool has_line_like(const std::string& text, const std::string& prefix, const std::string& suffix) {
  for (const std::string& l : split_lines(text)) {
    if (l.size() >= prefix.size() + suffix.size() && l.rfind(prefix, 0) == 0 &&
        l.compare(l.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

std::vector<std::string> lines_with_prefix(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& l : split_lines(text))
    if (l.rfind(prefix, 0) == 0) out.push_back(l);
  return out;
}

RunResult run_command(const std::vector<std::string>& argv_in, const RunOptions& opts) {
  RunResult r;
  std::vector<std::string> args;
  if (opts.as_uid) {
    uid_t uid = *opts.as_uid;
    gid_t gid = opts.as_gid ? *opts.as_gid : static_cast<gid_t>(uid);
    args = {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(gid),
            "--clear-groups"};
  }
  args.insert(args.end(), argv_in.begin(), argv_in.end());
  std::vector<char*> cargv = c_argv(args);

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return r;
  }
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) exec_child(cargv, out_pipe[1], err_pipe[1], -1, opts.cwd.c_str());
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return r;
  }
  int pidfd = sys_pidfd_open(pid);
  auto deadline = start + opts.timeout;
  bool out_open = true;
  bool err_open = true;
  bool exited = false;
  char buf[65536];
  while (out_open || err_open || !exited) {
    pollfd fds[3] = {{out_open ? out_pipe[0] : -1, POLLIN, 0},
                     {err_open ? err_pipe[0] : -1, POLLIN, 0},
                     {exited ? -1 : pidfd, POLLIN, 0}};
    int n = ::poll(fds, 3, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      r.timed_out = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) exited = true;
  }
  if (r.timed_out) {
    // Kill the run (and, for setpriv/nsenter wrappers, the exec'd program is the same pid).
    sys_pidfd_send_signal(pidfd, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(pidfd);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (r.timed_out) {
    r.exit_code = -1;
    ADD_FAILURE() << "command timed out after " << opts.timeout.count() << " ms: " << args[0]
                  << "...\nstdout so far:\n"
                  << r.out << "\nstderr so far:\n"
                  << r.err;
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

void make_file(const std::string& dir, const std::string& name, uid_t uid, gid_t gid, mode_t mode,
               size_t size) {
  std::string path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  ASSERT_GE(fd, 0) << "create " << path << ": " << std::strerror(errno);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0) << std::strerror(errno);
  EXPECT_EQ(::fchown(fd, uid, gid), 0) << std::strerror(errno);
  EXPECT_EQ(::fchmod(fd, mode), 0) << std::strerror(errno);
  ::close(fd);
}

bool exists_nofollow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string proc_comm(pid_t pid) {
  std::string c = read_file("/proc/" + std::to_string(pid) + "/comm");
  if (!c.empty() && c.back() == '\n') c.pop_back();
  return c;
}

char proc_state(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 >= s.size()) return '\0';
  return s[rp + 2];
}

namespace {
long status_field(pid_t pid, const std::string& key) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0)
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}
}  // namespace

pid_t proc_ppid(pid_t pid) {
  return static_cast<pid_t>(status_field(pid, "PPid"));
}
uid_t proc_uid(pid_t pid) {
  return static_cast<uid_t>(status_field(pid, "Uid"));
}

std::vector<pid_t> proc_children(pid_t pid) {
  std::vector<pid_t> out;
  std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(task_dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(read_file(task_dir + "/" + e->d_name + "/children"));
    long c = 0;
    while (in >> c) out.push_back(static_cast<pid_t>(c));
  }
  ::closedir(d);
  return out;
}

// ---- fixture -------------------------------------------------------------------------------

void ReapTest::SetUp() {
  // Orphaned victims (double fork) are adopted by this process, as they would be by a
  // `systemd --user` subreaper; the tests name it with --adopter.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0) << std::strerror(errno);
  ASSERT_TRUE(std::filesystem::exists(reap_bin())) << "reap binary not found at " << reap_bin();
  if (unprivileged()) {
    RecordProperty("test_uid", std::to_string(test_uid()));
    std::cerr << "[unprivileged pass: reap and its victims run as uid " << test_uid() << "]\n";
  }
}

void ReapTest::TearDown() {
  // Late "forked" lines: the processes were started by our victims; track them as well, but
  // only if they still look like our victims (guards against pid reuse).
  for (Spawned& s : spawned_) {
    read_ready(s, 1 << 20, std::chrono::milliseconds(0));
  }
  for (Tracked& t : tracked_) {
    if (t.pidfd >= 0) {
      sys_pidfd_send_signal(t.pidfd, SIGKILL);
    }
  }
  for (Tracked& t : tracked_) {
    if (t.pidfd >= 0) {
      pollfd p{t.pidfd, POLLIN, 0};
      ::poll(&p, 1, 2000);
      ::close(t.pidfd);
      t.pidfd = -1;
    }
  }
  // Collect every child (ours and adopted ones), bounded.
  auto deadline = Clock::now() + std::chrono::seconds(3);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (r > 0) continue;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;  // ECHILD: none left
    if (Clock::now() > deadline) {
      ADD_FAILURE() << "TearDown: children still running: "
                    << ::testing::PrintToString(proc_children(::getpid()));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (Spawned& s : spawned_) {
    if (s.ready_rd >= 0) ::close(s.ready_rd);
  }
  for (auto m = mounts_.rbegin(); m != mounts_.rend(); ++m)
    if (::umount2(m->c_str(), MNT_DETACH) != 0)
      ADD_FAILURE() << "umount " << *m << ": " << std::strerror(errno);
  for (const std::string& d : dirs_) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);  // never follows symlinks
    if (ec) ADD_FAILURE() << "could not remove " << d << ": " << ec.message();
  }
}

namespace {
// In the unprivileged pass a private dir belongs to the test uid, so reap can list and unlink
// in it and the helpers can chdir into it.
void give_to_reap_user(const std::string& dir) {
  if (!unprivileged()) return;
  if (::chown(dir.c_str(), reap_uid(), static_cast<gid_t>(reap_uid())) != 0)
    ADD_FAILURE() << "chown " << dir << ": " << std::strerror(errno);
}
}  // namespace

std::string ReapTest::shm_dir() {
  char tmpl[] = "/dev/shm/reap-test.XXXXXX";
  char* d = ::mkdtemp(tmpl);
  if (d == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return "/nonexistent-reap-test-dir";
  }
  dirs_.emplace_back(d);
  give_to_reap_user(d);
  return d;
}

std::string ReapTest::tmp_dir() {
  char tmpl[] = "/tmp/reap-e2e.XXXXXX";
  char* d = ::mkdtemp(tmpl);
  if (d == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return "/nonexistent-reap-e2e-dir";
  }
  dirs_.emplace_back(d);
  give_to_reap_user(d);
  return d;
}

void ReapTest::enter_private_ipc() {
  // Always fresh namespaces, even if an earlier test in this process left it private.
  ASSERT_EQ(::unshare(CLONE_NEWIPC | CLONE_NEWNS), 0) << "unshare: " << std::strerror(errno);
  // Nothing mounted here from now on reaches the machine's mount namespace.
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
      << "make / private: " << std::strerror(errno);
  ASSERT_TRUE(in_private_ipc());
}

std::string ReapTest::private_mqueue_dir() {
  if (!in_private_ipc()) {
    ADD_FAILURE() << "private_mqueue_dir() needs enter_private_ipc() first";
    return "/nonexistent-reap-e2e-dir";
  }
  std::string d = tmp_dir();
  if (::mount("mqueue", d.c_str(), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    ADD_FAILURE() << "mount mqueue on " << d << ": " << std::strerror(errno);
    return "/nonexistent-reap-e2e-dir";
  }
  mounts_.push_back(d);
  mqueue_mounts_.push_back(d);
  return d;
}

std::string ReapTest::private_tmpfs() {
  if (!in_private_ipc()) {
    ADD_FAILURE() << "private_tmpfs() needs enter_private_ipc() first";
    return "/nonexistent-reap-e2e-dir";
  }
  std::string d = tmp_dir();
  if (::mount("tmpfs", d.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755") != 0) {
    ADD_FAILURE() << "mount tmpfs on " << d << ": " << std::strerror(errno);
    return "/nonexistent-reap-e2e-dir";
  }
  mounts_.push_back(d);
  return d;
}

void ReapTest::hide_default_mqueue() {
  ASSERT_TRUE(in_private_ipc()) << "hide_default_mqueue() needs enter_private_ipc() first";
  struct stat st {};
  if (::lstat("/dev/mqueue", &st) == 0) {
    ASSERT_EQ(::mount("tmpfs", "/dev/mqueue", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), 0)
        << "hide /dev/mqueue: " << std::strerror(errno);
    mounts_.push_back("/dev/mqueue");
  }
  default_mqueue_hidden_ = true;
}

bool ReapTest::ipc_scoped(const std::vector<std::string>& args, std::string& why) const {
  auto has = [&](const char* a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  if ((has("--sysv") || has("--sysv-only")) && !in_private_ipc()) {
    why = "--sysv outside a private IPC namespace (call enter_private_ipc() first)";
    return false;
  }
  if (has("--mqueue") || has("--mqueue-only")) {
    auto dir = std::find(args.begin(), args.end(), "--mqueue-dir");
    bool ok = in_private_ipc() &&
              (dir == args.end() ? default_mqueue_hidden_
                                 : dir + 1 != args.end() &&
                                       std::find(mqueue_mounts_.begin(), mqueue_mounts_.end(),
                                                 *(dir + 1)) != mqueue_mounts_.end());
    for (const std::string& a : args) ok = ok && a.rfind("--mqueue-dir=", 0) != 0;
    if (!ok) {
      why = "--mqueue on anything but a private_mqueue_dir() (or the hidden default)";
      return false;
    }
  }
  return true;
}

std::string ReapTest::unique_marker(const std::string& what) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr ? info->name() : "x";
  std::replace(name.begin(), name.end(), '/', '_');
  return "reap-e2e-" + what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(++marker_counter_) + "-" + name;
}

void ReapTest::track(pid_t pid) {
  if (pid <= 1 || pid == ::getpid()) {
    ADD_FAILURE() << "refusing to track pid " << pid << ": not a process the test started";
    return;
  }
  int fd = sys_pidfd_open(pid);
  if (fd >= 0) tracked_.push_back({pid, fd});
}

void ReapTest::read_ready(Spawned& s, int count, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int got = 0;
  while (got < count) {
    size_t nl;
    while (got < count && (nl = s.pending.find('\n')) != std::string::npos) {
      std::string line = s.pending.substr(0, nl);
      s.pending.erase(0, nl + 1);
      std::istringstream in(line);
      std::string tag;
      long pid = 0;
      in >> tag >> pid;
      auto p = static_cast<pid_t>(pid);
      if (tag == "zombie") {
        s.zombies.push_back(p);
      } else if (tag == "forked") {
        s.forked.push_back(p);
        if (s.track_reported && proc_comm(p) == "reap-victim") track(p);
      } else {
        s.nodes.push_back(p);
        if (s.track_reported) track(p);
      }
      ++got;
    }
    if (got >= count) break;
    pollfd pf{s.ready_rd, POLLIN, 0};
    int n = ::poll(&pf, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[4096];
    ssize_t r = ::read(s.ready_rd, buf, sizeof buf);
    if (r <= 0) break;
    s.pending.append(buf, static_cast<size_t>(r));
  }
  if (got < count && timeout.count() > 0) {
    ADD_FAILURE() << "expected " << count << " readiness lines, got " << got;
  }
}

ReapTest::Spawned& ReapTest::spawn(const std::vector<std::string>& argv_in, int lines,
                                   bool wait_exit, bool track_reported) {
  spawned_.emplace_back();
  Spawned& s = spawned_.back();
  s.track_reported = track_reported;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return s;
  }
  std::vector<std::string> args = argv_in;
  std::vector<char*> cargv = c_argv(args);
  pid_t pid = ::fork();
  if (pid == 0) exec_child(cargv, -1, -1, p[1], nullptr);
  ::close(p[1]);
  s.ready_rd = p[0];
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return s;
  }
  s.pid = pid;
  track(pid);
  if (wait_exit) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << argv_in[0] << " (first of a double fork) exited with status " << status;
  }
  // A bound for a loaded machine (helpers report within milliseconds when it is not).
  read_ready(s, lines, std::chrono::seconds(30));
  return s;
}

ReapTest::Spawned& ReapTest::spawn_as(uid_t uid, const std::vector<std::string>& argv_in, int lines,
                                      bool wait_exit, bool track_reported) {
  // setpriv execs the program, so the pid spawn() sees is the program's.
  std::vector<std::string> argv = setpriv_argv(uid);
  argv.insert(argv.end(), argv_in.begin(), argv_in.end());
  return spawn(argv, lines, wait_exit, track_reported);
}

uid_t ReapTest::helper_uid(const std::vector<std::string>& args) {
  for (const std::string& a : args)
    if (a.find("--drop") != std::string::npos) return 0;
  return reap_uid();
}

ReapTest::Spawned& ReapTest::spawn_victim(const std::vector<std::string>& args, int lines,
                                          bool wait_exit) {
  return spawn_victim_as(helper_uid(args), args, lines, wait_exit);
}

ReapTest::Spawned& ReapTest::spawn_victim_as(uid_t uid, const std::vector<std::string>& args,
                                             int lines, bool wait_exit) {
  std::vector<std::string> argv = {victim_bin(), "--ready-fd", "3"};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_as(uid, argv, lines, wait_exit);
}

pid_t ReapTest::spawn_holder(const std::vector<std::string>& args) {
  return spawn_holder_as(helper_uid(args), args);
}

pid_t ReapTest::spawn_holder_as(uid_t uid, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {holder_bin(), "--ready-fd", "3"};
  argv.insert(argv.end(), args.begin(), args.end());
  Spawned& s = spawn_as(uid, argv, 1);
  return s.nodes.empty() ? -1 : s.nodes.front();
}

bool ReapTest::running(pid_t pid) {
  char st = proc_state(pid);
  return st != '\0' && st != 'Z' && st != 'X';
}

bool ReapTest::wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (running(pid)) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

bool ReapTest::wait_state(pid_t pid, char state, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (proc_state(pid) != state) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

RunResult ReapTest::run_reap(const std::vector<std::string>& args, const RunOptions& opts) {
  auto has = [&](const char* a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  bool scoped = has("-p") || has("--parent") || (has("--cwd") && has("--match")) ||
                has("--shm-only") || has("--uds-only") || has("--mqueue-only") ||
                has("--sysv-only") || has("-V") || has("--version");
  bool sweep = has("--shm") || has("--shm-only");
  bool uds = has("--uds") || has("--uds-only");
  if (!scoped || (sweep && !has("--shm-dir")) || (uds && !has("--uds-dir"))) {
    ADD_FAILURE() << "refusing to run reap unscoped (needs --parent, or --cwd and --match, "
                     "and --shm-dir/--uds-dir for sweeps)";
    return {};
  }
  std::string why;
  if (!ipc_scoped(args, why)) {
    ADD_FAILURE() << "refusing to run reap: " << why;
    return {};
  }
  std::vector<std::string> argv = {reap_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run_command(argv, as_reap_user(opts));
  // Keep the output in the log of a failing test.
  RecordProperty("reap_args", ::testing::PrintToString(args));
  std::cerr << "[reap exit " << r.exit_code << " in " << r.seconds << " s] "
            << ::testing::PrintToString(args) << "\n--- stdout\n"
            << r.out << "--- stderr\n"
            << r.err << "---\n";
  return r;
}

}  // namespace reap_e2e
