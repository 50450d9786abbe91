// Shared pieces of the hardening (stress/fault) tests: running the built reap and collecting
// its output and peak RSS, private sweep directories under /dev/shm, and cleanup of every
// process a test started.
//
// Safety (shared brief TESTING.md): sweeps only ever go to a directory made here with
// mkdtemp("/dev/shm/reap-test.XXXXXX"); every signal a test sends goes to a process it forked
// itself (ChildGuard kills exactly the pids it was given, by pidfd).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reap_stress {

/// The reap binary under test (REAP_BIN in the environment overrides the built one).
std::string reap_bin();
/// This test binary (for self re-exec: helper modes and namespace wrappers).
std::string self_exe();

struct RunResult {
  int exit_code = -1;  ///< exit status, 128+signal when killed, -1 on timeout
  bool timed_out = false;
  std::string out;
  std::string err;
  long maxrss_kib = 0;  ///< ru_maxrss of that one child (wait4)
  double seconds = 0;
};

struct RunOptions {
  std::optional<uid_t> as_uid;  ///< run under setpriv --reuid/--regid=UID --clear-groups
  std::chrono::milliseconds timeout{30000};
  std::vector<std::string> extra_env;  ///< NAME=VALUE added to the environment
};

/// Runs argv (path or PATH name) with stdin /dev/null and collects stdout/stderr.
RunResult run_command(std::vector<std::string> argv, const RunOptions& opts = {});
/// Runs the reap binary with args.
RunResult run_reap(const std::vector<std::string>& args, const RunOptions& opts = {});
/// Parses reap's --json output; fails the test (and returns null) when it is not JSON.
nlohmann::json parse_report(const RunResult& r);
/// Human description of a run for failure messages.
std::string describe(const RunResult& r);

/// A private sweep directory mkdtemp("/dev/shm/reap-test.XXXXXX"), held open; removed with
/// its contents (no recursion into symlinks) in the destructor.
class TempShmDir {
 public:
  TempShmDir();
  ~TempShmDir();
  TempShmDir(const TempShmDir&) = delete;
  TempShmDir& operator=(const TempShmDir&) = delete;
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  std::string at(const std::string& name) const { return path_ + "/" + name; }
  /// Names in the directory (except . and ..).
  std::set<std::string> names() const;

 private:
  std::string path_;
  int fd_ = -1;
};

/// Creates `name` in dirfd with O_EXCL, `mode` (exactly, after umask), owner uid:gid and
/// `size` bytes (sparse). Returns the open fd when keep_open, else closes it and returns -1.
/// Fails the test on error.
int make_segment(int dirfd, const std::string& name, mode_t mode, uid_t uid, gid_t gid,
                 off_t size = 4096, bool keep_open = false);

/// Kills (SIGKILL by pidfd) and collects every pid it was given, in the destructor. Only
/// pids this test process forked (or whose creation it observed) go in here.
class ChildGuard {
 public:
  ~ChildGuard();
  void track(pid_t pid);
  void kill_all();

 private:
  std::vector<std::pair<pid_t, int>> kids_;  // pid, pidfd
};

/// Process state letter from /proc/PID/stat, '\0' when gone.
char proc_state(pid_t pid, const std::string& proc_root = "/proc");
/// Start time (field 22) of pid, 0 when gone.
unsigned long long proc_starttime(pid_t pid);
/// PPid of pid, -1 when gone.
pid_t proc_ppid(pid_t pid);
/// True while pid runs (exists and is not a zombie).
bool running(pid_t pid);
/// Every pid in /proc.
std::vector<pid_t> all_pids();

/// Reads exactly one '\n'-terminated line from fd within timeout; nullopt on EOF/timeout.
std::optional<std::string> read_line(int fd, std::chrono::milliseconds timeout);
/// Writes all of s (async-signal-safe: only write(2)).
bool write_all(int fd, const char* data, size_t len);
/// Reads a whole file (empty when unreadable).
std::string slurp(const std::string& path);

struct Spawned {
  pid_t pid = -1;
  int ready = -1;  ///< read end of the pipe the child has as fd 3
};
/// Forks and execs argv (under setpriv --reuid/--regid=UID --clear-groups when as_uid) with
/// the write end of a fresh pipe as fd 3; the fds in `inherit` stay open across the exec under
/// their numbers. The caller tracks the pid (ChildGuard) and closes `ready`.
Spawned spawn(std::vector<std::string> argv, std::optional<uid_t> as_uid = std::nullopt,
              const std::vector<int>& inherit = {});
/// {this binary, "--stress-helper", mode, args...}
std::vector<std::string> helper_argv(const std::string& mode, std::vector<std::string> args = {});

/// Runs the current test again in a fresh PID namespace (`unshare --pid --fork --mount-proc`)
/// and returns true, with the result asserted, when not already there; returns false inside
/// the namespace (where this process is PID 1), where the caller runs the body.
bool rerun_in_pid_namespace();

/// True when the test binary was built with AddressSanitizer (RSS bounds are looser then).
bool built_with_asan();

}  // namespace reap_stress
