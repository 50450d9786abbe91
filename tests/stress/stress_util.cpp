#include "stress_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#ifndef REAP_STRESS_REAP_BIN
#define REAP_STRESS_REAP_BIN "reap"
#endif

extern char** environ;

namespace reap_stress {
namespace {

using Clock = std::chrono::steady_clock;

int sys_pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int sys_pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::vector<std::string> stat_fields(pid_t pid) {
  std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = s.rfind(')');
  if (close == std::string::npos) return {};
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  std::istringstream in(s.substr(close + 2));
  std::string f;
  while (in >> f) fields.push_back(f);
  return fields;
}

}  // namespace

std::string reap_bin() {
  const char* env = std::getenv("REAP_BIN");
  return env != nullptr && *env != '\0' ? env : REAP_STRESS_REAP_BIN;
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<size_t>(n));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> read_line(int fd, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string line;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char c;
    ssize_t r = ::read(fd, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    if (c == '\n') return line;
    line.push_back(c);
  }
}

RunResult run_command(std::vector<std::string> argv, const RunOptions& opts) {
  RunResult r;
  if (opts.as_uid) {
    std::string id = std::to_string(*opts.as_uid);
    argv.insert(argv.begin(), {"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"});
  }
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  for (const auto& e : opts.extra_env) env_store.push_back(e);
  std::vector<char*> cenv;
  for (auto& e : env_store) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return r;
  }
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  int pidfd = sys_pidfd_open(pid);
  auto deadline = start + opts.timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    int n = ::poll(fds, 2, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      r.timed_out = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        sinks[i]->append(buf, static_cast<size_t>(got));
      }
    }
  }
  if (r.timed_out && pidfd >= 0) sys_pidfd_send_signal(pidfd, SIGKILL);
  int status = 0;
  struct rusage ru {};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  if (pidfd >= 0) ::close(pidfd);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.maxrss_kib = ru.ru_maxrss;
  if (r.timed_out) {
    r.exit_code = -1;
    ADD_FAILURE() << "timed out after " << opts.timeout.count() << " ms: " << argv[0];
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = 128 + WTERMSIG(status);
  }
  return r;
}

RunResult run_reap(const std::vector<std::string>& args, const RunOptions& opts) {
  // Scoping guard: every sweep names a private --shm-dir; process runs name --parent.
  bool shm = false, dir = false, parent = false, proc_phase = true;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--shm" || args[i] == "--shm-only") shm = true;
    if (args[i] == "--shm-only") proc_phase = false;
    if (args[i] == "--shm-dir" && i + 1 < args.size() &&
        args[i + 1].rfind("/dev/shm/reap-test.", 0) == 0)
      dir = true;
    if (args[i] == "-p" || args[i] == "--parent") parent = true;
  }
  if ((shm && !dir) || (proc_phase && !parent)) {
    ADD_FAILURE() << "refusing to run reap unscoped (needs --shm-dir /dev/shm/reap-test.* "
                     "and --parent for a process phase)";
    return {};
  }
  // Through the "rss" helper, so ru_maxrss is reap's own peak and not the test's.
  auto argv = helper_argv("rss", {reap_bin()});
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_command(argv, opts);
  const std::string tag = "\nreap-stress-maxrss-kib ";
  auto pos = r.err.rfind(tag);
  if (pos != std::string::npos) {
    r.maxrss_kib = std::stol(r.err.substr(pos + tag.size()));
    r.err.erase(pos);
  }
  return r;
}

nlohmann::json parse_report(const RunResult& r) {
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "reap --json printed no JSON document\n" << describe(r);
    return nullptr;
  }
  return j;
}

std::string describe(const RunResult& r) {
  std::ostringstream s;
  s << "exit " << r.exit_code << " in " << r.seconds << " s, maxrss " << r.maxrss_kib
    << " KiB\n--- stdout (first 4000 bytes) ---\n"
    << r.out.substr(0, 4000) << "\n--- stderr ---\n"
    << r.err.substr(0, 4000);
  return s.str();
}

TempShmDir::TempShmDir() {
  char tmpl[] = "/dev/shm/reap-test.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  path_ = tmpl;
  fd_ = ::open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

TempShmDir::~TempShmDir() {
  if (path_.empty()) return;
  for (const auto& n : names()) {
    if (::unlinkat(fd_, n.c_str(), 0) != 0 && errno == EISDIR)
      ::unlinkat(fd_, n.c_str(), AT_REMOVEDIR);
  }
  ::close(fd_);
  ::rmdir(path_.c_str());
}

std::set<std::string> TempShmDir::names() const {
  std::set<std::string> out;
  int dup = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return out;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return out;
  }
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.insert(n);
  }
  ::closedir(d);
  return out;
}

int make_segment(int dirfd, const std::string& name, mode_t mode, uid_t uid, gid_t gid, off_t size,
                 bool keep_open) {
  int fd = ::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    ADD_FAILURE() << "create " << name << ": " << std::strerror(errno);
    return -1;
  }
  if (::fchown(fd, uid, gid) != 0 || ::fchmod(fd, mode) != 0 ||
      (size > 0 && ::ftruncate(fd, size) != 0))
    ADD_FAILURE() << "set up " << name << ": " << std::strerror(errno);
  if (keep_open) return fd;
  ::close(fd);
  return -1;
}

ChildGuard::~ChildGuard() {
  kill_all();
}

void ChildGuard::track(pid_t pid) {
  if (pid <= 0) return;
  kids_.emplace_back(pid, sys_pidfd_open(pid));
}

void ChildGuard::kill_all() {
  for (auto& [pid, pidfd] : kids_) {
    if (pidfd >= 0) {
      sys_pidfd_send_signal(pidfd, SIGKILL);
      ::close(pidfd);
    }
    // Collects it when it is our child; for others the pidfd kill is all we can do.
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  kids_.clear();
}

char proc_state(pid_t pid, const std::string& proc_root) {
  std::string s = slurp(proc_root + "/" + std::to_string(pid) + "/stat");
  auto close = s.rfind(')');
  if (close == std::string::npos || close + 2 >= s.size()) return '\0';
  return s[close + 2];
}

unsigned long long proc_starttime(pid_t pid) {
  auto f = stat_fields(pid);
  return f.size() > 19 ? std::stoull(f[19]) : 0;
}

pid_t proc_ppid(pid_t pid) {
  auto f = stat_fields(pid);
  return f.size() > 1 ? static_cast<pid_t>(std::stol(f[1])) : -1;
}

bool running(pid_t pid) {
  char s = proc_state(pid);
  return s != '\0' && s != 'Z' && s != 'X';
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  return out;
}

Spawned spawn(std::vector<std::string> argv, std::optional<uid_t> as_uid,
              const std::vector<int>& inherit) {
  Spawned s;
  if (as_uid) {
    std::string id = std::to_string(*as_uid);
    argv.insert(argv.begin(), {"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"});
  }
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return s;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return s;
  }
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (p[1] == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(p[1], 3);
    }
    for (int fd : inherit) ::fcntl(fd, F_SETFD, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(p[1]);
  s.pid = pid;
  s.ready = p[0];
  return s;
}

std::vector<std::string> helper_argv(const std::string& mode, std::vector<std::string> args) {
  std::vector<std::string> argv{self_exe(), "--stress-helper", mode};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

bool rerun_in_pid_namespace() {
  if (::getpid() == 1 && std::getenv("REAP_STRESS_IN_PIDNS") != nullptr) return false;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  RunOptions opts;
  opts.extra_env.push_back("REAP_STRESS_IN_PIDNS=1");
  opts.timeout = std::chrono::milliseconds(40000);
  auto r =
      run_command({"unshare", "--pid", "--fork", "--mount-proc", self_exe(),
                   "--gtest_filter=" + name, "--gtest_also_run_disabled_tests", "--gtest_color=no"},
                  opts);
  EXPECT_EQ(r.exit_code, 0) << "in a fresh PID namespace:\n" << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos)
      << "the test did not run in the PID namespace:\n"
      << r.out << r.err;
  // Pass the inner run's notes through.
  for (size_t pos = 0; (pos = r.out.find("[ note", pos)) != std::string::npos;) {
    size_t nl = r.out.find('\n', pos);
    std::printf("%s\n", r.out.substr(pos, nl - pos).c_str());
    pos = nl;
  }
  return true;
}

bool built_with_asan() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

}  // namespace reap_stress
