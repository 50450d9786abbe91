// End-to-end tests for the ways reap could hit the wrong process or file, hang, or misreport,
// found by the outside review (one test or more per item; docs/SAFETY.md maps them). Where
// a refusal is tested, the victims are processes and files that this very run of reap could
// have acted on (same uid, in scope), so a refusal that is ignored fails the test.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

// reap runs as this uid in these tests, unless root is needed: a uid of this test process
// alone (not 65534), so that its uninspectable or blocking processes cannot change the verdicts
// of tests running beside it.
const uid_t kUser = test_uid();
const std::string kUserIds = std::to_string(kUser) + ":" + std::to_string(kUser);
// "Another user", equally private to this test process.
const uid_t kOther = spare_uid(1);

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Pids of live processes whose argv[0] is exactly `argv0` (tests use unique markers).
std::vector<pid_t> pids_with_argv0(const std::string& argv0) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::string cmd = slurp("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmd.substr(0, cmd.find('\0')) == argv0 && proc_state(pid) != 'Z') out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

class Trust : public ReapTest {
 protected:
  RunOptions as_user(const std::string& cwd = "/") {
    RunOptions o;
    o.as_uid = kUser;
    o.cwd = cwd;
    return o;
  }
  // A dir other users can write in (for files a command run as kUser writes).
  std::string open_dir() {
    std::string d = tmp_dir();
    ::chmod(d.c_str(), 0777);
    return d;
  }
  // A victim double-forked in `cwd` and adopted by this test process (a subreaper),
  // running as kUser unless as_root.
  pid_t orphan(const std::string& cwd, const std::string& marker, const std::string& on_int,
               bool as_root = false) {
    std::vector<std::string> args = {"--double-fork", "--chdir",  cwd,   "--marker",
                                     marker,          "--on-int", on_int};
    if (!as_root) args.insert(args.end(), {"--drop", kUserIds});
    Spawned& s = spawn_victim(args, 1, /*wait_exit=*/true);
    if (s.nodes.size() != 1) return -1;
    EXPECT_EQ(proc_ppid(s.nodes[0]), ::getpid());
    return s.nodes[0];
  }
  std::string self() const { return std::to_string(::getpid()); }
};

// --- Wrong target ---------------------------------------------------------------------

// Item 1: `reap run` run by an ordinary user reaps that user's leak (it used to keep every
// process as "owned by uid 1000, not 0") and --fail-on-leak then fails the job.
TEST_F(Trust, RunAsAnOrdinaryUserReapsItsLeakAndFailsOnIt) {
  std::string dir = open_dir();
  std::string pidfile = dir + "/pids";
  RunResult r = run_command({reap_bin(), "run", "-g", "2", "--fail-on-leak", "--", "sh", "-c",
                             victim_bin() + " --ready-fd 1 --double-fork > " + pidfile},
                            as_user(dir));
  std::istringstream in(slurp(pidfile));
  std::string tag;
  pid_t pid = -1;
  in >> tag >> pid;
  ASSERT_GT(pid, 0) << r.err;
  if (running(pid)) track(pid);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(running(pid)) << "the user's leaked process is still running:\n" << r.err;
  EXPECT_TRUE(has_line_like(r.err, "process " + std::to_string(pid) + " (reap-victim): reaped: "))
      << r.err;
}

// Item 2: everything after `--` is the command's, byte for byte: none of it is taken as an
// option of reap (a `-n` there made reap a dry run, `--version` printed reap's version).
TEST_F(Trust, RunGivesEveryWordAfterTheSeparatorToTheCommand) {
  RunResult r = run_command({reap_bin(), "run", "--", "sh", "-c", "printf '%s|' \"$@\"", "sh", "-n",
                             "--version", "--shm", "--json", "-p", "1", "--"},
                            as_user());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "-n|--version|--shm|--json|-p|1|--|");
  EXPECT_TRUE(has_line_like(r.err, "summary: processes 0 reaped")) << r.err;
  EXPECT_EQ(r.err.find("dry run"), std::string::npos) << r.err;

  // Without the separator nothing runs: a CMD word can never be mistaken for reap's.
  std::string dir = open_dir();
  RunResult bare = run_command({reap_bin(), "run", "touch", dir + "/ran"}, as_user());
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.err_lines().size(), 1u) << bare.err;
  EXPECT_FALSE(exists_nofollow(dir + "/ran"));
}

// Item 3: outside a git work tree, orphan mode without --cwd refuses instead of taking the
// working directory as its scope. The victim is this user's matching orphan in that very
// directory: a reap that widened silently would kill it.
TEST_F(Trust, OrphanModeRefusesOutsideAGitWorkTreeWithoutCwd) {
  std::string cwd = tmp_dir();
  std::string marker = unique_marker("nogit");
  pid_t v = orphan(cwd, marker, "exit");
  ASSERT_GT(v, 0);
  RunResult r =
      run_command({reap_bin(), "--adopter", self(), "--match", marker, "-g", "0.5"}, as_user(cwd));
  EXPECT_EQ(r.exit_code, 2) << r.out;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("not in a git work tree"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--cwd"), std::string::npos) << r.err;
  EXPECT_TRUE(running(v));

  // Control: named explicitly, the same scope takes it (so the refusal above mattered).
  RunResult ok =
      run_command({reap_bin(), "--adopter", self(), "--cwd", cwd, "--match", marker, "-g", "0.5"},
                  as_user(cwd));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(wait_gone(v, std::chrono::seconds(3))) << ok.out;
}

// Item 3: --cwd / is refused unless --allow-root-cwd says it is meant (daemons run in /).
TEST_F(Trust, CwdRootNeedsAllowRootCwd) {
  std::string marker = unique_marker("root");
  pid_t v = orphan("/", marker, "exit");
  ASSERT_GT(v, 0);
  RunResult r = run_command(
      {reap_bin(), "--adopter", self(), "--cwd", "/", "--match", marker, "-g", "0.5"}, as_user());
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--allow-root-cwd"), std::string::npos) << r.err;
  EXPECT_TRUE(running(v));

  RunResult ok = run_command({reap_bin(), "--adopter", self(), "--cwd", "/", "--allow-root-cwd",
                              "--match", marker, "-g", "0.5"},
                             as_user());
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(wait_gone(v, std::chrono::seconds(3))) << ok.out;
}

// Item 3: --match is about the program (argv[0], the executable, an interpreter's script or
// module), not any argument. A shell whose inline code mentions the marker and a `tail` of
// a file named after it are not that program; a helper binary whose executable path names
// it (like torch/bin/torch_shm_manager inside a python package) is.
TEST_F(Trust, MatchIsAboutTheProgramNotItsArguments) {
  std::string cwd = tmp_dir();
  ::chmod(cwd.c_str(), 0755);  // the orphans run as kUser in it
  std::string marker = unique_marker("prog");
  std::string notes = cwd + "/notes-" + marker + ".txt";
  std::ofstream(notes) << "x\n";
  ::chown(notes.c_str(), kUser, kUser);
  auto orphan_cmd = [&](const std::string& script) {
    // The inner shell is orphaned (its parent exits) and reports its pid.
    Spawned& s =
        spawn({"setpriv", "--reuid=" + std::to_string(kUser), "--regid=" + std::to_string(kUser),
               "--clear-groups", "sh", "-c", "cd " + cwd + " && (" + script + ") & exit 0"},
              1, /*wait_exit=*/true);
    return s.nodes.empty() ? -1 : s.nodes[0];
  };
  pid_t inline_code = orphan_cmd(
      "exec sh -c 'echo node $$ >&3; exec 3>&-; while :; do sleep 1; done; : " + marker + "'");
  pid_t tail = orphan_cmd("exec sh -c 'echo node $$ >&3; exec 3>&- tail -f " + notes + "'");
  // A copy of the victim binary installed under a path that names the marker.
  std::string pkg = cwd + "/" + marker + "/lib/python3/dist-packages/torch/bin";
  std::filesystem::create_directories(pkg);
  std::filesystem::copy_file(victim_bin(), pkg + "/torch_shm_manager");
  Spawned& helper = spawn({pkg + "/torch_shm_manager", "--ready-fd", "3", "--double-fork",
                           "--chdir", cwd, "--drop", kUserIds},
                          1, /*wait_exit=*/true);
  ASSERT_EQ(helper.nodes.size(), 1u);
  pid_t torch = helper.nodes[0];
  ASSERT_GT(inline_code, 0);
  ASSERT_GT(tail, 0);
  for (pid_t p : {inline_code, tail, torch}) track(p);
  for (pid_t p : {inline_code, tail, torch}) ASSERT_EQ(proc_ppid(p), ::getpid()) << p;

  RunResult r = run_command(
      {reap_bin(), "--adopter", self(), "--cwd", cwd, "--match", marker, "-g", "0.5"}, as_user());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(wait_gone(torch, std::chrono::seconds(3))) << r.out;
  EXPECT_TRUE(running(inline_code)) << "an argument mentioning the marker was matched:\n" << r.out;
  EXPECT_TRUE(running(tail)) << "a file name mentioning the marker was matched:\n" << r.out;
  EXPECT_TRUE(lines_with_prefix(r.out, "process " + std::to_string(tail) + " ").empty()) << r.out;
}

// Item 4: a sweep directory must be a memory filesystem; an ordinary directory (here on the
// disk under /tmp) is refused, so `--shm-dir ~` cannot unlink a user's files.
TEST_F(Trust, SweepDirMustBeAMemoryFilesystem) {
  std::string dir = tmp_dir();  // on the root filesystem, not tmpfs
  ASSERT_EQ(::chown(dir.c_str(), kUser, kUser), 0);
  make_file(dir, "bash_history", kUser, kUser);
  RunResult r = run_command({reap_bin(), "--shm-only", "--shm-dir", dir}, as_user());
  EXPECT_EQ(r.exit_code, 2) << r.out;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("not a memory filesystem"), std::string::npos) << r.err;
  EXPECT_TRUE(exists_nofollow(dir + "/bash_history"));

  RunResult forced =
      run_command({reap_bin(), "--shm-only", "--shm-dir", dir, "--allow-any-fs"}, as_user());
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_FALSE(exists_nofollow(dir + "/bash_history")) << forced.out;
}

// --- Holders that are easy to miss -----------------------------------------------------

// Item 5: a process whose main thread exited while another thread lives shows empty
// /proc/PID/maps and fd; its mapping is read through the live thread. It is still reaped.
TEST_F(Trust, HolderWhoseLeaderExitedKeepsItsSegmentAndIsReaped) {
  std::string dir = shm_dir();
  ASSERT_EQ(::chown(dir.c_str(), kUser, kUser), 0);
  make_file(dir, "held", kUser, kUser);
  Spawned& parent = spawn({"sh", "-c",
                           holder_bin() + " --ready-fd 3 --drop " + kUserIds +
                               " --leader-exits mmap:" + dir + "/held & wait"},
                          1);
  ASSERT_EQ(parent.nodes.size(), 1u);
  pid_t h = parent.nodes[0];
  track(h);
  ASSERT_TRUE(wait_state(h, 'Z', std::chrono::seconds(3))) << "the leader did not exit";
  RunResult sweep = run_reap({"--shm-only", "--shm-dir", dir}, as_user());
  EXPECT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_TRUE(has_line_like(sweep.out, "shm held: kept: mapped by pid " + std::to_string(h)))
      << sweep.out;
  EXPECT_TRUE(exists_nofollow(dir + "/held"));

  // As root acting for kUser; in the unprivileged pass (e2e-user.), as kUser itself.
  RunResult reap =
      run_reap({"-p", std::to_string(parent.pid), "-g", "1", "--uid", std::to_string(kUser)},
               unprivileged() ? as_user() : RunOptions{});
  // Signalled (a background job of sh starts with SIGINT ignored, so SIGKILL at once).
  EXPECT_TRUE(has_line_like(reap.out, "process " + std::to_string(h) + " (reap-holder): killed") ||
              has_line_like(reap.out, "process " + std::to_string(h) + " (reap-holder): reaped"))
      << reap.out;
  // Gone for good (its parent shell collects it), not merely a zombie leader.
  for (int i = 0; i < 300 && proc_state(h) != '\0'; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(proc_state(h), '\0') << reap.out;
}

// Item 7: an orphan whose SIGINT handler double-forks (the child calls setsid(), its child
// ignores SIGINT and execs) must not leave that grandchild behind. 20 runs, 20 catches.
TEST_F(Trust, GrandchildDoubleForkedWhileDyingIsCaughtEveryTime) {
  std::string cwd = tmp_dir();
  int missed = 0;
  for (int run = 0; run < 20; ++run) {
    std::string marker = unique_marker("daemonize");
    pid_t v = orphan(cwd, marker, "daemonize", /*as_root=*/true);
    ASSERT_GT(v, 0);
    RunResult r = run_reap({"--adopter", self(), "--cwd", cwd, "--match", marker, "-g", "2"});
    EXPECT_NE(r.exit_code, 2) << r.err;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto left = pids_with_argv0("reap-victim[" + marker + "]");
    if (!left.empty()) {
      ++missed;
      ADD_FAILURE() << "run " << run << ": left alive: " << left[0] << "\n" << r.out;
      for (pid_t p : left) track(p);
    }
  }
  EXPECT_EQ(missed, 0);
}

// Item 8: a process that is exiting (PF_EXITING, freeing a large address space) has /proc
// files an ordinary user cannot read. reap waits for it instead of calling it uninspectable
// and letting it block every segment of the uid.
TEST_F(Trust, ExitingProcessIsWaitedForNotCalledUninspectable) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "allocates 768 MiB; runs in the build without sanitizers";
#endif
  std::string dir = shm_dir();
  ASSERT_EQ(::chown(dir.c_str(), kUser, kUser), 0);
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string name = "seg" + std::to_string(attempt);
    make_file(dir, name, kUser, kUser);
    pid_t h = spawn_holder({"--drop", kUserIds, "--big", "768", "mmap:" + dir + "/" + name});
    ASSERT_GT(h, 0);  // never kill(-1, ...)
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, h, 0));
    ASSERT_GE(pidfd, 0);
    ASSERT_EQ(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0), 0);
    ::close(pidfd);
    RunResult r = run_reap({"--shm-only", "--shm-dir", dir}, as_user());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("not dumpable"), std::string::npos) << r.out;
    if (exists_nofollow(dir + "/" + name)) {
      EXPECT_TRUE(has_line_like(r.out, "shm " + name + ": kept: ", "exiting")) << r.out;
    }
    wait_gone(h, std::chrono::seconds(10));
  }
}

// --- reap run ---------------------------------------------------------------------------

// Items 9 and 10: while a process of the run is still there (kept: it runs as another uid),
// the run's segments are not swept (it may be about to open one), and --fail-on-leak fails
// the job for what was left behind, cleaned or not.
TEST_F(Trust, RunKeepsItsSegmentsWhileItsProcessesLiveAndFailsOnWhatItLeft) {
  std::string dir = shm_dir();
  std::string pidfile = tmp_dir() + "/pids";
  std::string script = victim_bin() + " --ready-fd 1 --double-fork > " + pidfile +
                       " 2>/dev/null; : > " + dir + "/psm_run && chown " + kUserIds + " " + dir +
                       "/psm_run && chmod 600 " + dir + "/psm_run";
  RunResult r =
      run_command({reap_bin(), "run", "--shm", "--shm-dir", dir, "--uid", std::to_string(kUser),
                   "-g", "0.5", "--fail-on-leak", "--", "sh", "-c", script});
  std::istringstream in(slurp(pidfile));
  std::string tag;
  pid_t root_victim = -1;
  in >> tag >> root_victim;
  ASSERT_GT(root_victim, 0) << r.err;
  track(root_victim);
  EXPECT_TRUE(running(root_victim));
  EXPECT_TRUE(has_line_like(
      r.err, "process " + std::to_string(root_victim) + " (reap-victim): kept: owned by uid 0"))
      << r.err;
  EXPECT_TRUE(
      has_line_like(r.err, "shm psm_run: kept: the run's process " + std::to_string(root_victim)))
      << r.err;
  EXPECT_TRUE(exists_nofollow(dir + "/psm_run"));
  EXPECT_EQ(r.exit_code, 1) << "a leak that was kept still counts for --fail-on-leak\n" << r.err;
}

// Item 13: an inherited SIGCHLD=SIG_IGN must not lose the command's status.
TEST_F(Trust, RunPassesTheStatusThroughWithSigchldIgnored) {
  // (perl, which Debian always has, sets SIG_IGN and execs: an ignored signal stays ignored
  // across exec. dash's `trap '' CHLD` does not reliably do that.)
  RunResult r = run_command({"perl", "-e", "$SIG{CHLD} = 'IGNORE'; exec @ARGV", reap_bin(), "run",
                             "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
}

// Item 13: Ctrl-C at a terminal reaches the command once (the tty signals the foreground
// group, which holds reap and the command; reap must not forward it a second time).
TEST_F(Trust, CtrlCReachesTheCommandOnce) {
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::string reap = reap_bin(), victim = victim_bin();
    ::execl(reap.c_str(), reap.c_str(), "run", "--", victim.c_str(), "--on-int", "count",
            "--ready-fd", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  track(pid);
  std::string seen;
  auto read_until = [&](const std::string& what, int ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (seen.find(what) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[512];
        ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) break;
        seen.append(buf, static_cast<size_t>(n));
      }
    }
    return seen.find(what) != std::string::npos;
  };
  ASSERT_TRUE(read_until("node ", 5000)) << seen;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  char ctrl_c = 3;
  ASSERT_EQ(::write(master, &ctrl_c, 1), 1);
  ASSERT_TRUE(read_until("sigints ", 5000)) << seen;
  std::string rest = seen.substr(seen.find("sigints ") + 8);
  EXPECT_EQ(std::atoi(rest.c_str()), 1) << "the command got Ctrl-C more than once:\n" << seen;
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
}

// Item 16: the JSON exit_code of `reap run` is the exit status reap returns.
TEST_F(Trust, RunJsonExitCodeIsTheExitCode) {
  RunResult r = run_command({reap_bin(), "run", "--json", "--", "sh", "-c", "exit 3"}, as_user());
  EXPECT_EQ(r.exit_code, 3);
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["exit_code"], 3);
  EXPECT_EQ(doc["command_exit_status"], 3);
}

// --- Hangs and resource failures ---------------------------------------------------------

// Item 11: fd targets and cwds are statx'ed with AT_STATX_DONT_SYNC (a dead NFS or FUSE
// server cannot block reap), never followed by a plain stat; and cmdline, which reads the
// target's memory, is not read for processes that fail the cheap tests.
TEST_F(Trust, NoSyncingStatAndNoCmdlineReadsBeyondTheCheapTests) {
  std::string dir = shm_dir();
  make_file(dir, "held", kUser, kUser);
  spawn_holder({"--drop", kUserIds, "fd:" + dir + "/held"});
  std::string log = tmp_dir() + "/strace";
  // (LeakSanitizer cannot run under ptrace: off for a sanitizer build of reap.)
  RunResult r = run_command({"env", "ASAN_OPTIONS=detect_leaks=0", "strace", "-f", "-qq", "-e",
                             "trace=statx,newfstatat,openat", "-o", log, reap_bin(), "--shm-only",
                             "--shm-dir", dir, "--uid", std::to_string(kUser)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = slurp(log);
  // Old: newfstatat(5, "3", {...}, 0), a stat that follows the fd link into its file system.
  std::regex plain_stat(R"(newfstatat\(\d+, "\d+", .*, 0\))");
  std::regex dont_sync(R"(statx\(\d+, "\d+", AT_STATX_DONT_SYNC, ([A-Z_|]+),)");
  std::istringstream lines(text);
  std::string line;
  int statx_fd = 0;
  while (std::getline(lines, line)) {
    EXPECT_FALSE(std::regex_search(line, plain_stat)) << "a stat through an fd link: " << line;
    if (std::smatch m; std::regex_search(line, m, dont_sync)) {
      ++statx_fd;
      // No timestamp asked for (the mask asked, not the one answered): NFS flushes the
      // holder's dirty pages for c/mtime.
      EXPECT_EQ(m[1].str().find("TIME"), std::string::npos) << line;
    }
  }
  EXPECT_GT(statx_fd, 0) << "no AT_STATX_DONT_SYNC statx seen:\n" << text.substr(0, 4000);
  EXPECT_TRUE(has_line_like(r.out, "shm held: kept: open by pid")) << r.out;

  // Orphan mode in an empty scope: no process passes the uid/cwd tests, so no cmdline is read.
  std::string cwd = tmp_dir();
  std::string log2 = tmp_dir() + "/strace";
  RunResult o = run_command({"env", "ASAN_OPTIONS=detect_leaks=0", "strace", "-f", "-qq", "-e",
                             "trace=openat", "-o", log2, reap_bin(), "-n", "--cwd", cwd, "--match",
                             unique_marker("none")});
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(slurp(log2).find("/cmdline"), std::string::npos)
      << "cmdline was read for processes outside the scope";
}

// Item 12: under a low descriptor limit reap still honours the grace (children that exit on
// SIGINT are reaped, not killed) and accepts a live --parent.
TEST_F(Trust, LowDescriptorLimitStillHonoursTheGrace) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime needs descriptors of its own";
#endif
  Spawned& root = spawn_victim({"--marker", unique_marker("fdroot"), "--tree", "1", "40"}, 41);
  ASSERT_EQ(root.nodes.size(), 41u);
  RunResult r = run_command(
      {"prlimit", "--nofile=24:24", reap_bin(), "-p", std::to_string(root.pid), "-g", "3"},
      as_reap_user());
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(lines_with_prefix(r.out, "process ").size(), 40u) << r.out;
  for (const auto& l : lines_with_prefix(r.out, "process "))
    EXPECT_NE(l.find(": reaped: exited after SIGINT"), std::string::npos) << l;
  EXPECT_TRUE(running(root.pid));
}

// Item 14: a failure after something was done reports what was done and exits 1, never
// "exit 2, nothing acted on" (a test hook fails the run after the process phase).
TEST_F(Trust, FailureAfterActingReportsWhatWasDoneAndExitsOne) {
  Spawned& root = spawn_victim({"--marker", unique_marker("fault"), "--child", "--on-int exit"}, 2);
  pid_t child = root.nodes[0] == root.pid ? root.nodes[1] : root.nodes[0];
  RunResult r = run_command({"env", "REAP_TEST_FAULT_AFTER_PROCESS_PHASE=1", reap_bin(), "-p",
                             std::to_string(root.pid), "-g", "2", "--shm", "--shm-dir", shm_dir()},
                            as_reap_user());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(has_line_like(r.out, "process " + std::to_string(child) + " (reap-victim): reaped"))
      << r.out;
  EXPECT_TRUE(has_line_like(r.err, "reap: error: injected fault")) << r.err;
}

// --- Honest reports ----------------------------------------------------------------------

// Item 15: a holder that names itself with a newline cannot forge report lines.
TEST_F(Trust, HostileHolderNameCannotForgeReportLines) {
  std::string dir = shm_dir();
  // The --uid's (act_uid()): 65534 as root, the test uid in the unprivileged pass.
  const std::string u = std::to_string(act_uid());
  make_file(dir, "held", act_uid(), act_uid());
  spawn_holder({"--comm", "x\nsummary: 99\x1b", "--drop", u + ":" + u, "mmap:" + dir + "/held"});
  RunResult r = run_reap({"--shm-only", "--shm-dir", dir, "--uid", u});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const auto& l : split_lines(r.out)) {
    EXPECT_NE(l.rfind("summary: 99", 0), 0u) << "forged line:\n" << r.out;
    EXPECT_EQ(l.find('\x1b'), std::string::npos) << "raw ESC reached the terminal: " << l;
  }
  EXPECT_TRUE(has_line_like(r.out, "shm held: kept: mapped by pid", "(x\\nsummary: 99\\x1b)"))
      << r.out;
}

// Item 16: a SIGKILL that could not be sent is an error, not "killed" or "survived".
TEST_F(Trust, SigkillThatCouldNotBeSentIsAnError) {
  Spawned& root = spawn_victim(
      {"--marker", unique_marker("become"), "--child",
       "--drop " + kUserIds + " --keep-saved-root --on-int become:" + std::to_string(kOther)},
      2);
  pid_t child = root.nodes[0] == root.pid ? root.nodes[1] : root.nodes[0];
  ASSERT_EQ(proc_uid(child), kUser);
  RunResult r = run_reap({"-p", std::to_string(root.pid), "-g", "0.5"}, as_user());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(
      has_line_like(r.out, "process " + std::to_string(child) +
                               " (reap-victim): error: SIGINT sent, but SIGKILL could not be"))
      << r.out;
  EXPECT_TRUE(running(child));
}

// Item 16: when processes could not be inspected but none of them could hold the swept
// segments, the summary says so instead of a bare count.
TEST_F(Trust, SummarySaysWhetherUninspectableProcessesMattered) {
  std::string dir = shm_dir();
  ASSERT_EQ(::chown(dir.c_str(), kUser, kUser), 0);
  make_file(dir, "free", kUser, kUser);
  RunResult r = run_reap({"--shm-only", "--shm-dir", dir}, as_user());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Root processes (PID 1 among them) cannot be inspected by this uid, and cannot open its
  // private segment without privilege. (Tests running in parallel may start a process of this
  // uid that does block it: then the summary must name it.)
  if (has_line(r.out, "shm free: unlinked")) {
    EXPECT_TRUE(has_line_like(r.out, "summary: ", "none of which could hold these segments"))
        << r.out;
  } else {
    EXPECT_TRUE(has_line_like(r.out, "shm free: kept: unverifiable: pid ")) << r.out;
    EXPECT_NE(r.out.find("and these could hold segments, which are kept: pid "), std::string::npos)
        << r.out;
  }
}

}  // namespace
}  // namespace reap_e2e
