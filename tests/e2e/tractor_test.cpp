// Parity tests of the `tractor-reap` front (the reap binary under that name) against the
// reference tool's interface (shared brief TRACTOR-REAP.md): flags, defaults, phase order,
// output lines and exit codes. Scoping: -p points at a process the test started; the shm
// sweep reads a private dir through TRACTOR_REAP_SHM_DIR as test_uid() (a uid of this test
// process alone, in both passes, so no other test's processes can block its files); orphan mode
// (which has no --cwd or --match here) runs only inside a private PID namespace. tractor-reap runs
// as reap_uid() unless a test says otherwise, like reap in the other tests.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

std::string tractor_bin() {
  return (std::filesystem::path(reap_bin()).parent_path() / "tractor-reap").string();
}

std::string pid_list(std::vector<pid_t> pids) {
  std::string s = "[";
  for (std::size_t i = 0; i < pids.size(); ++i) s += (i ? ", " : "") + std::to_string(pids[i]);
  return s + "]";
}

class TractorFront : public ReapTest {
 protected:
  RunResult tractor(std::vector<std::string> args, const RunOptions& opts = {}) {
    args.insert(args.begin(), tractor_bin());
    return run_command(args, as_reap_user(opts));
  }
  // tractor-reap with its shm sweep pointed at `dir`, as test_uid().
  RunResult tractor_shm(const std::string& dir, std::vector<std::string> args) {
    args.insert(args.begin(), {"env", "TRACTOR_REAP_SHM_DIR=" + dir, tractor_bin()});
    RunOptions o;
    o.as_uid = test_uid();
    return run_command(args, o);
  }
  // A parent victim with children given as --child specs; returns the children's pids.
  std::vector<pid_t> children_of(Spawned& s) {
    std::vector<pid_t> kids;
    for (pid_t p : s.nodes)
      if (p != s.pid) kids.push_back(p);
    std::sort(kids.begin(), kids.end());
    return kids;
  }
};

TEST_F(TractorFront, TheSameBinaryUnderTheReferenceName) {
  ASSERT_TRUE(std::filesystem::is_symlink(tractor_bin()));
  RunResult r = tractor({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("usage: tractor-reap [-h] [--parent PARENT] [--grace GRACE] [--dry-run] "
                        "[--shm]",
                        0),
            0u)
      << r.out;
}

TEST_F(TractorFront, ExactlyTheReferenceFlags) {
  RunResult r = tractor({"--help"});
  std::set<std::string> flags;
  std::regex flag(R"((^|[\s\[,])(--?[a-z][a-z-]*))");
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), flag), end; it != end; ++it)
    flags.insert((*it)[2]);
  EXPECT_EQ(flags,
            (std::set<std::string>{"-h", "--help", "-p", "--parent", "-g", "--grace", "-n",
                                   "--dry-run", "--shm", "--shm-only", "--uds", "--uds-only"}))
      << r.out;
  // reap's own options are not the front's.
  for (const char* extra : {"--cwd", "--match", "--shm-dir", "--json", "--uid", "--check", "-V"}) {
    RunResult e = tractor({extra, "x"});
    EXPECT_EQ(e.exit_code, 2) << extra;
    EXPECT_EQ(e.err.rfind("tractor-reap: error: unrecognized arguments: ", 0), 0u) << e.err;
    EXPECT_EQ(split_lines(e.err).size(), 1u) << e.err;
    EXPECT_TRUE(e.out.empty());
  }
}

TEST_F(TractorFront, UsageErrorsInArgparseWordsExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  } cases[] = {
      {{"-g", "x"}, "tractor-reap: error: argument --grace/-g: invalid float value: 'x'\n"},
      {{"--parent", "abc"},
       "tractor-reap: error: argument --parent/-p: invalid int value: 'abc'\n"},
      {{"-p"}, "tractor-reap: error: argument --parent/-p: expected one argument\n"},
      {{"--s"}, "tractor-reap: error: ambiguous option: --s could match --shm, --shm-only\n"},
      {{"--dry-run=1"},
       "tractor-reap: error: argument --dry-run/-n: ignored explicit argument '1'\n"},
      {{"extra"}, "tractor-reap: error: unrecognized arguments: extra\n"},
  };
  for (const auto& c : cases) {
    RunResult r = tractor(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0];
    EXPECT_EQ(r.err, c.err);
  }
}

TEST_F(TractorFront, UdsSweepLinesInTheReferenceShape) {
  std::string dir = tmp_dir();
  ASSERT_EQ(::chown(dir.c_str(), test_uid(), test_uid()), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  auto bind_at = [&](const std::string& name, bool keep_open) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, (dir + "/" + name).c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd, 1), 0);
    EXPECT_EQ(::lchown((dir + "/" + name).c_str(), test_uid(), test_uid()), 0);
    if (keep_open) return fd;
    ::close(fd);
    return -1;
  };
  bind_at("actor@99999.sock", false);
  int live = bind_at("live@1.sock", true);
  std::vector<std::string> env = {"env", "TRACTOR_REAP_UDS_DIR=" + dir, tractor_bin()};
  RunOptions as_owner;
  as_owner.as_uid = test_uid();
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), env.begin(), env.end());
    return run_command(args, as_owner);
  };
  RunResult dry = run({"--uds-only", "-n"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  // The front prints no reasons; on a mismatch, reap's own dry run says why each file stayed.
  auto why = [&] {
    return run_command({reap_bin(), "-n", "--uds-only", "--uds-dir", dir, "--uid",
                        std::to_string(test_uid())},
                       as_owner)
        .out;
  };
  EXPECT_EQ(dry.out, "[tractor-reap] dry-run — 1 orphaned UDS sock-file(s):\n  ['" + dir +
                         "/actor@99999.sock']\n")
      << "reap -n says:\n"
      << why();
  RunResult r = run({"--uds-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[tractor-reap] unlinked 1 orphaned UDS sock-file(s): ['" + dir +
                       "/actor@99999.sock']\n");
  EXPECT_FALSE(exists_nofollow(dir + "/actor@99999.sock"));
  EXPECT_TRUE(exists_nofollow(dir + "/live@1.sock")) << "a bound socket's file was removed";
  RunResult again = run({"--uds-only"});
  EXPECT_EQ(again.out, "[tractor-reap] no orphaned UDS sock-files to sweep\n");
  ::close(live);
}

TEST_F(TractorFront, DescendantsGetSigintAndTheParentIsLeftAlone) {
  Spawned& s = spawn_victim(
      {"--marker", unique_marker("p"), "--child", "--on-int exit", "--child", "--on-int exit"}, 3);
  auto kids = children_of(s);
  // Prefix abbreviation and --opt=value, as argparse takes them.
  RunResult r = tractor({"--par=" + std::to_string(s.pid)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "[tractor-reap] SIGINT → 2 proc(s): " + pid_list(kids) + "\n");
  for (pid_t k : kids) EXPECT_TRUE(wait_gone(k, std::chrono::seconds(2)));
  EXPECT_TRUE(running(s.pid));
}

TEST_F(TractorFront, DefaultGraceIsThreeSecondsThenSigkillAndExitOne) {
  Spawned& s = spawn_victim({"--marker", unique_marker("p"), "--child", "--on-int linger"}, 2);
  auto kids = children_of(s);
  RunResult r = tractor({"-p", std::to_string(s.pid)});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "[tractor-reap] SIGINT → 1 proc(s): " + pid_list(kids) +
                       "\n[tractor-reap] SIGKILL (after 3.0s grace) → " + pid_list(kids) + "\n");
  EXPECT_GE(r.seconds, 3.0);
  EXPECT_TRUE(running(s.pid));
}

TEST_F(TractorFront, GraceIsPrintedAsPythonPrintsAFloat) {
  Spawned& s = spawn_victim({"--marker", unique_marker("p"), "--child", "--on-int linger"}, 2);
  auto kids = children_of(s);
  RunResult r = tractor({"-ng1", "-p", std::to_string(s.pid)});  // clustered: -n -g 1
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "[tractor-reap] dry-run — descendants of PPid=" + std::to_string(s.pid) +
                       ":\n  " + pid_list(kids) + "\n");
  EXPECT_TRUE(running(kids[0])) << "a dry run signalled";
  RunResult k = tractor({"-g", "1", "-p", std::to_string(s.pid)});
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_TRUE(has_line(k.out, "[tractor-reap] SIGKILL (after 1.0s grace) → " + pid_list(kids)))
      << k.out;
}

TEST_F(TractorFront, NothingToReapIsExitZero) {
  Spawned& s = spawn_victim({"--marker", unique_marker("lonely")}, 1);
  RunResult r = tractor({"-p", std::to_string(s.pid)});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "[tractor-reap] no descendants of PPid=" + std::to_string(s.pid) + " to reap\n");
}

TEST_F(TractorFront, ShmSweepLinesAndPythonReprOfPaths) {
  std::string dir = shm_dir();
  ::chown(dir.c_str(), test_uid(), test_uid());
  make_file(dir, "free", test_uid(), test_uid());
  make_file(dir, "it's", test_uid(), test_uid());
  make_file(dir, "held", test_uid(), test_uid());
  const std::string u = std::to_string(test_uid());
  pid_t h = spawn_holder({"--drop", u + ":" + u, "fd:" + dir + "/held"});
  RunResult dry = tractor_shm(dir, {"--shm-only", "-n"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  auto lines = split_lines(dry.out);
  ASSERT_EQ(lines.size(), 2u) << dry.out;
  EXPECT_EQ(lines[0], "[tractor-reap] dry-run — 2 orphaned shm segment(s):");
  EXPECT_TRUE(lines[1] == "  ['" + dir + "/free', \"" + dir + "/it's\"]" ||
              lines[1] == "  [\"" + dir + "/it's\", '" + dir + "/free']")
      << lines[1];
  RunResult r = tractor_shm(dir, {"--shm-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("[tractor-reap] unlinked 2 orphaned shm segment(s): [", 0), 0u) << r.out;
  EXPECT_FALSE(exists_nofollow(dir + "/free"));
  EXPECT_TRUE(exists_nofollow(dir + "/held"));
  RunResult again = tractor_shm(dir, {"--shm-only"});
  EXPECT_EQ(again.out, "[tractor-reap] no orphaned " + dir + " segments to sweep\n");
  EXPECT_TRUE(running(h));
}

// The path lists are written as they are made (a sweep may list 1,000,000 paths): one that
// spans many of its 64 KiB pieces is still one list of every path, once each.
TEST_F(TractorFront, LongShmListsAreWholeAndInOrder) {
  std::string dir = shm_dir();
  ::chown(dir.c_str(), test_uid(), test_uid());
  const int n = 3000;  // about 60 bytes a path: some 180 KB of list
  std::set<std::string> want;
  for (int i = 0; i < n; ++i) {
    std::string name = "long-list-" + std::to_string(i);
    make_file(dir, name, test_uid(), test_uid());
    want.insert("'" + dir + "/" + name + "'");
  }
  auto check_list = [&](std::string list) {
    ASSERT_GE(list.size(), 2u);
    ASSERT_EQ(list.front(), '[');
    ASSERT_EQ(list.back(), ']');
    list = list.substr(1, list.size() - 2);
    std::set<std::string> got;
    std::size_t count = 0;
    for (std::size_t at = 0; at <= list.size(); ++count) {
      std::size_t comma = list.find(", ", at);
      if (comma == std::string::npos) comma = list.size();
      got.insert(list.substr(at, comma - at));
      at = comma + 2;
    }
    EXPECT_EQ(count, want.size());
    EXPECT_EQ(got, want);
  };
  RunResult dry = tractor_shm(dir, {"--shm-only", "-n"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  auto lines = split_lines(dry.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "[tractor-reap] dry-run — " + std::to_string(n) + " orphaned shm segment(s):");
  ASSERT_EQ(lines[1].rfind("  ", 0), 0u);
  check_list(lines[1].substr(2));
  RunResult r = tractor_shm(dir, {"--shm-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  const std::string head =
      "[tractor-reap] unlinked " + std::to_string(n) + " orphaned shm segment(s): ";
  ASSERT_EQ(lines[0].rfind(head, 0), 0u) << lines[0].substr(0, 200);
  check_list(lines[0].substr(head.size()));
  EXPECT_FALSE(exists_nofollow(dir + "/long-list-0"));
}

TEST_F(TractorFront, FailedUnlinkIsExitOneWithThePythonError) {
  std::string dir = shm_dir();
  ASSERT_EQ(::chown(dir.c_str(), 0, 0), 0);  // root-owned: test_uid() cannot unlink in it...
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);  // ...but can list it
  make_file(dir, "stuck", test_uid(), test_uid());
  RunResult r = tractor_shm(dir, {"--shm-only"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "[tractor-reap] could not unlink " + dir +
                                  "/stuck: PermissionError(13, 'Permission denied')"))
      << r.out;
}

TEST_F(TractorFront, PhasesRunProcessesThenShm) {
  std::string dir = shm_dir();
  ::chown(dir.c_str(), test_uid(), test_uid());
  make_file(dir, "free", test_uid(), test_uid());
  const std::string u = std::to_string(test_uid());
  Spawned& s = spawn_victim(
      {"--marker", unique_marker("p"), "--child", "--on-int exit --drop " + u + ":" + u}, 2);
  auto kids = children_of(s);
  RunResult r = tractor_shm(dir, {"--shm", "-p", std::to_string(s.pid)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "[tractor-reap] SIGINT → 1 proc(s): " + pid_list(kids) +
                       "\n[tractor-reap] unlinked 1 orphaned shm segment(s): ['" + dir +
                       "/free']\n");
}

// Orphan mode: inside a private PID namespace, a victim whose parent died is adopted by the
// namespace's init (PPid 1); tractor-reap, run from the victim's directory, reaps it. Only
// processes of that namespace are visible to it, and all die with the namespace. The victims
// and tractor-reap run as reap_uid() (unshare itself needs root).
TEST_F(TractorFront, OrphanModeInAPrivatePidNamespace) {
  std::string cwd = tmp_dir();
  std::filesystem::create_directory(cwd + "/.git");  // orphan mode's scope: a git work tree
  std::string marker = "'_subactor[" + unique_marker("tractor") + "]'";  // tractor's marker
  const std::string as = setpriv_words(reap_uid());
  std::string script =
      "set -e; cd '" + cwd + "'; " + as + victim_bin() + " --double-fork --chdir '" + cwd +
      "' --marker " + marker + " --on-int exit --ready-fd 1 > ready; " + as + victim_bin() +
      " --double-fork --chdir '" + cwd + "' --marker " + marker +
      " --on-int ignore --ready-fd 1 > ready2; "
      "for i in $(seq 100); do [ -s ready ] && [ -s ready2 ] && break; sleep 0.05; done; "
      "cat ready ready2; set +e; " +
      as + tractor_bin() + " -g 0.5; echo rc=$?";
  RunResult r = run_command({"unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script});
  auto nodes = lines_with_prefix(r.out, "node ");
  ASSERT_EQ(nodes.size(), 2u) << r.out << r.err;
  std::string a = nodes[0].substr(5), b = nodes[1].substr(5);
  EXPECT_TRUE(has_line(r.out, "[tractor-reap] SIGINT → 1 proc(s): [" + a + "]")) << r.out;
  EXPECT_TRUE(has_line(r.out, "[tractor-reap] SIGKILL (after 0.5s grace) → [" + b + "]")) << r.out;
  EXPECT_TRUE(has_line(r.out, "rc=1")) << r.out;
}

TEST_F(TractorFront, OrphanModeOutsideAGitWorkTreeIsRefused) {
  RunResult r = tractor(
      {"-n"}, RunOptions{std::nullopt, std::nullopt, std::chrono::milliseconds(20000), tmp_dir()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("tractor-reap: error: orphan mode needs a scope: ", 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(TractorFront, OrphanModeFindsNothingOutsideItsDirectory) {
  std::string cwd = tmp_dir();
  std::filesystem::create_directory(cwd + "/.git");
  RunResult r = tractor(
      {"-n"}, RunOptions{std::nullopt, std::nullopt, std::chrono::milliseconds(20000), cwd});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[tractor-reap] no orphans (PPid=1, cwd=" + cwd + ") to reap\n");
}

}  // namespace
}  // namespace reap_e2e
