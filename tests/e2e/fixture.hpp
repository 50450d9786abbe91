// Fixture library for the end-to-end tests of the built `reap` CLI.
//
// Safety (docs: shared brief TESTING.md): every sweep goes to a private directory made with
// mkdtemp under /dev/shm, every process the tests signal is one they started, orphan-mode runs
// always pass a fresh --cwd and a unique --match, and run_reap() refuses (fails the test) to
// run reap without such scoping. SysV and message queue sweeps run only after the test
// process has moved itself into a private IPC namespace and a private mount namespace
// (enter_private_ipc), so reap and every helper the test starts see only the test's own
// segments and queues, on an mqueue file system the test mounted. Everything a test starts is
// tracked by pidfd and killed and collected in TearDown, even when the test fails.
//
// Two modes (tests/e2e/CMakeLists.txt registers the binary twice):
// - "e2e.*": reap runs as root. Victims run as root; sweeps act for uid 65534 (`--uid 65534`,
//   segments owned by it), since PID 1 of the test machines blocks root-owned segments.
// - "e2e-user.*" (REAP_E2E_UNPRIVILEGED=1): reap runs as an unprivileged test uid, the way
//   users run it, and everything the tests make for it to act on belongs to that uid: victims
//   and holders start as it (setpriv --reuid/--regid/--clear-groups), shm_dir() and tmp_dir()
//   are chowned to it, and sweeps act for it. A helper whose arguments contain "--drop" still
//   starts as root (it switches uids itself). Tests that need a root reap (hidepid mounts,
//   root-owned segments, a uid name) GTEST_SKIP there with the reason.
//
// The test uid is 61000 + (pid % 4000), moved up to the first uid with neither a passwd nor a
// group entry: one per test process, so tests running in parallel (ctest -j, other checkouts)
// do not share it (an unprivileged reap fails closed on a non-dumpable process of its own uid,
// and another test's `setpriv` is one for a moment before it execs). It is never one of
// 65526..65534, which tests use as "another user". REAP_E2E_TEST_UID=N forces N.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace reap_e2e {

// Whether this run is the unprivileged pass (REAP_E2E_UNPRIVILEGED set and not "0").
bool unprivileged();
// The unprivileged test uid (see above); its gid has the same number.
uid_t test_uid();
// Further uids of this test process (n = 1, 2, ...): test_uid() + 100000 * n. For tests in
// which reap runs as, or must fail closed on, "another user": a fixed number would be shared
// with the same test of the other pass (ctest -j runs them side by side) and other checkouts.
uid_t spare_uid(int n);
// The uid reap runs as: 0, or test_uid() when unprivileged. Processes the tests start with
// spawn_victim()/spawn_holder() run as it, so they are reap's by default (no --uid).
uid_t reap_uid();
// The uid the tests act for with `--uid`: owner of the segments they make to be swept (and of
// processes started for such runs): 65534, or test_uid() when unprivileged.
uid_t act_uid();
// setpriv --reuid=UID --regid=UID --clear-groups, as an argv prefix or as shell words ending
// in a space; empty for uid 0.
std::vector<std::string> setpriv_argv(uid_t uid);
std::string setpriv_words(uid_t uid);

// Paths of the programs under test (compile definitions, overridable by environment).
std::string reap_bin();
std::string holder_bin();
std::string victim_bin();

struct RunResult {
  int exit_code = -1;  // exit status, or 128+signal, or -1 when it timed out
  bool timed_out = false;
  std::string out;
  std::string err;
  double seconds = 0;
  std::vector<std::string> out_lines() const;
  std::vector<std::string> err_lines() const;
};

struct RunOptions {
  std::optional<uid_t> as_uid;  // run under setpriv --reuid/--regid/--clear-groups
  std::optional<gid_t> as_gid;  // defaults to as_uid
  std::chrono::milliseconds timeout{20000};
  std::string cwd = "/";
};

// Runs argv (argv[0] is a path or a name looked up in PATH) and collects its output. It runs
// as root unless opts.as_uid says otherwise (see as_reap_user()).
RunResult run_command(const std::vector<std::string>& argv, const RunOptions& opts = {});
// opts with as_uid set to reap_uid() when unprivileged: for runs of reap through
// run_command() (under wrappers such as prlimit or sh) that should run as run_reap()'s do.
RunOptions as_reap_user(RunOptions opts = {});

// Splits text into lines (without the '\n'; a trailing newline ends the last line).
std::vector<std::string> split_lines(const std::string& text);
bool has_line(const std::string& text, const std::string& line);
// Whether one line of text starts with prefix and ends with suffix.
bool has_line_like(const std::string& text, const std::string& prefix,
                   const std::string& suffix = "");
// The lines of text that start with prefix.
std::vector<std::string> lines_with_prefix(const std::string& text, const std::string& prefix);

// File helpers (all relative names are in dir; nothing follows symlinks).
void make_file(const std::string& dir, const std::string& name, uid_t uid, gid_t gid,
               mode_t mode = 0600, size_t size = 4096);
bool exists_nofollow(const std::string& path);
std::string proc_comm(pid_t pid);
char proc_state(pid_t pid);  // '\0' when gone
pid_t proc_ppid(pid_t pid);
uid_t proc_uid(pid_t pid);
std::vector<pid_t> proc_children(pid_t pid);

// A process the test started (or adopted), tracked by pidfd.
struct Tracked {
  pid_t pid = -1;
  int pidfd = -1;
};

class ReapTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // mkdtemp("/dev/shm/reap-test.XXXXXX"), removed in TearDown. mode 0700, owned by reap_uid()
  // (root, or the test uid when unprivileged) unless chowned by the caller.
  std::string shm_dir();
  // mkdtemp("/tmp/reap-e2e.XXXXXX") for orphan-mode cwds and other scratch files; owned like
  // shm_dir().
  std::string tmp_dir();
  // Moves this test process, and so everything it starts afterwards (reap included), into a
  // private IPC namespace and a private mount namespace whose mounts propagate nowhere.
  // Required before any --sysv/--mqueue run. (Each test runs in its own process.)
  void enter_private_ipc();
  // A fresh mqueue file system (the private IPC namespace's own) mounted on a new private
  // directory; unmounted in TearDown. Needs enter_private_ipc().
  std::string private_mqueue_dir();
  // A fresh tmpfs mounted on a new private directory (a file system nothing else uses, so
  // whole-file-system reports are exact); unmounted in TearDown. Needs enter_private_ipc().
  std::string private_tmpfs();
  // Makes sure /dev/mqueue holds no mqueue file system in the private mount namespace (an
  // empty tmpfs over it, if it exists), so a run with --mqueue and no --mqueue-dir is safe.
  void hide_default_mqueue();
  // Whether args stay inside what the test made, as far as SysV and message queues go:
  // --sysv only in a private IPC namespace; --mqueue only on a private_mqueue_dir() (or on
  // the hidden default). Sets why when not.
  bool ipc_scoped(const std::vector<std::string>& args, std::string& why) const;

  // A marker unique to this test process and call.
  std::string unique_marker(const std::string& what = "m");

  struct Spawned {
    pid_t pid = -1;              // the process exec'd by the test
    int ready_rd = -1;           // read end of the ready pipe (children write to fd 3)
    std::string pending;         // unconsumed bytes from the ready pipe
    std::vector<pid_t> nodes;    // "node"/"ready" pids reported so far, in order
    std::vector<pid_t> zombies;  // "zombie" pids reported
    std::vector<pid_t> forked;   // "forked" pids reported
    bool track_reported = true;  // false when the reported pids are in another PID namespace
  };

  // Forks and execs argv with the write end of a fresh pipe as fd 3 and waits for
  // `lines` readiness lines ("node PID", "ready PID", "zombie PID"); each reported live pid is
  // tracked. With wait_exit the exec'd process itself is waited for first (double fork).
  // With track_reported false the reported pids are only recorded (they belong to another PID
  // namespace and mean something else here).
  Spawned& spawn(const std::vector<std::string>& argv, int lines, bool wait_exit = false,
                 bool track_reported = true);
  // spawn() runs argv as root; spawn_as() runs it under setpriv as uid (as root for uid 0).
  Spawned& spawn_as(uid_t uid, const std::vector<std::string>& argv, int lines,
                    bool wait_exit = false, bool track_reported = true);
  // reap-victim with args (--ready-fd 3 is added); `lines` as in spawn(). It starts as
  // helper_uid(args).
  Spawned& spawn_victim(const std::vector<std::string>& args, int lines = 1,
                        bool wait_exit = false);
  Spawned& spawn_victim_as(uid_t uid, const std::vector<std::string>& args, int lines = 1,
                           bool wait_exit = false);
  // reap-holder with args (--ready-fd 3 is added); returns its pid. Starts as helper_uid(args).
  pid_t spawn_holder(const std::vector<std::string>& args);
  pid_t spawn_holder_as(uid_t uid, const std::vector<std::string>& args);
  // reap_uid(), or root when an argument contains "--drop" (the helper, or a child it starts,
  // switches uids itself).
  static uid_t helper_uid(const std::vector<std::string>& args);
  // Reads more readiness lines (e.g. "forked PID") until `count` new ones arrived or timeout.
  void read_ready(Spawned& s, int count, std::chrono::milliseconds timeout);
  // Tracks a pid (pidfd_open) so it is killed in TearDown. Refuses PID 1 and this process.
  void track(pid_t pid);

  // True while the process runs (not exited and not a zombie).
  static bool running(pid_t pid);
  // Waits until pid is no longer running; false on timeout.
  static bool wait_gone(pid_t pid, std::chrono::milliseconds timeout);
  // Waits until /proc/PID/stat shows state `state`.
  static bool wait_state(pid_t pid, char state, std::chrono::milliseconds timeout);

  // Runs build/bin/reap, as reap_uid() unless opts.as_uid is set. Fails the test (and does
  // not run) unless the arguments scope the run to what the test made: --parent, or --cwd and
  // --match, or --shm-only, or --version; and any sweep names --shm-dir.
  RunResult run_reap(const std::vector<std::string>& args, const RunOptions& opts = {});

  std::vector<Tracked> tracked_;
  std::deque<Spawned> spawned_;  // deque: references stay valid
  std::vector<std::string> dirs_;
  std::vector<std::string> mounts_;  // unmounted (in reverse) in TearDown
  std::vector<std::string> mqueue_mounts_;
  bool default_mqueue_hidden_ = false;
  int marker_counter_ = 0;
};

}  // namespace reap_e2e
