// --uds / --uds-only / --uds-dir against real unix sockets bound in a private directory.
// Sockets are bound by this test process (or a child it forks into a private network
// namespace) and the files are owned by test_uid(), a uid of this test process alone in both
// passes: not root (PID 1, uninspectable, cannot block them), not 65534 (another test's
// process of 65534 in a network namespace of its own would keep them), and nothing of the
// machine's is touched. In the unprivileged pass reap runs as that uid.
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

class UdsTest : public ReapTest {
 protected:
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    ReapTest::TearDown();
  }
  std::string dir() {
    if (dir_.empty()) {
      dir_ = tmp_dir();
      EXPECT_EQ(::chown(dir_.c_str(), test_uid(), test_uid()), 0);
      EXPECT_EQ(::chmod(dir_.c_str(), 0755), 0);
    }
    return dir_;
  }
  static sockaddr_un addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    return a;
  }
  /// Binds a socket of `type` at dir/name (listening when asked), owned by `owner`; kept
  /// open (live) unless `close_it` (stale).
  void bind_at(const std::string& name, int type, bool listen, bool close_it,
               uid_t owner = test_uid()) {
    int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    auto a = addr(dir() + "/" + name);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    if (listen) {
      ASSERT_EQ(::listen(fd, 1), 0);
    }
    ASSERT_EQ(::lchown((dir() + "/" + name).c_str(), owner, owner), 0);
    if (close_it) {
      ::close(fd);
    } else {
      fds_.push_back(fd);
    }
  }
  /// A child that enters a private network namespace as root, then (optionally) becomes
  /// test_uid(), binds `name` in `dir` and waits. Returns its pid (tracked).
  pid_t bind_in_other_netns(const std::string& path, bool drop_to_owner, int& ready_rd) {
    const uid_t owner = test_uid();
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(p[0]);
      if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
      if (drop_to_owner) {
        if (::setresgid(owner, owner, owner) || ::setresuid(owner, owner, owner)) ::_exit(2);
        ::prctl(PR_SET_DUMPABLE, 1);  // so that reap, as the same uid, can read its ns link
      }
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) || ::listen(fd, 1)) ::_exit(3);
      if (!drop_to_owner && ::chown(path.c_str(), owner, owner)) ::_exit(4);
      if (::write(p[1], "r", 1) != 1) ::_exit(5);
      ::pause();
      ::_exit(0);
    }
    ::close(p[1]);
    ready_rd = p[0];
    char c;
    EXPECT_EQ(::read(p[0], &c, 1), 1) << "the child could not bind in its own network namespace";
    track(pid);
    return pid;
  }

  bool exists(const std::string& name) { return exists_nofollow(dir() + "/" + name); }

  std::string dir_;
  std::vector<int> fds_;
};

// reap runs as reap_uid() (root, or the test uid) and acts for test_uid(); the sockets are
// bound by this (root) test process.
TEST_F(UdsTest, RemovesOnlySocketFilesNothingIsBoundTo) {
  const std::string owner = std::to_string(test_uid());
  bind_at("stale-stream", SOCK_STREAM, true, true);
  bind_at("stale-dgram", SOCK_DGRAM, false, true);
  bind_at("actor@999999.sock", SOCK_STREAM, true, true);
  bind_at("registry@1616.sock", SOCK_STREAM, true, false);  // the fixed name: live here
  bind_at("listening", SOCK_STREAM, true, false);
  bind_at("bound-only", SOCK_STREAM, false, false);
  bind_at("dgram", SOCK_DGRAM, false, false);
  ASSERT_EQ(::link((dir() + "/bound-only").c_str(), (dir() + "/hardlink").c_str()), 0);
  make_file(dir(), "x.sock", test_uid(), test_uid());
  ASSERT_EQ(::symlink((dir() + "/stale-stream").c_str(), (dir() + "/link.sock").c_str()), 0);
  ASSERT_EQ(::lchown((dir() + "/link.sock").c_str(), test_uid(), test_uid()), 0);
  bind_at("other-uid-stale", SOCK_STREAM, true, true, 4242);

  auto dry = run_reap({"--uds-only", "--uds-dir", dir(), "--uid", owner, "-n"});
  EXPECT_EQ(dry.exit_code, 0);
  EXPECT_TRUE(has_line(dry.out, "uds stale-stream: would remove: nothing bound"));
  EXPECT_TRUE(exists("stale-stream"));

  auto r = run_reap({"--uds-only", "--uds-dir", dir(), "--uid", owner});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "uds stale-stream: removed: nothing bound"));
  EXPECT_TRUE(has_line(r.out, "uds stale-dgram: removed: nothing bound"));
  EXPECT_TRUE(has_line(r.out,
                       "uds actor@999999.sock: removed: nothing bound (likely tractor, pid 999999 "
                       "gone) [named for pid 999999, gone]"));
  EXPECT_TRUE(has_line_like(r.out, "uds registry@1616.sock: kept: bound"));
  EXPECT_TRUE(has_line(r.out, "uds listening: kept: bound: a socket is bound to this file"));
  EXPECT_TRUE(has_line(r.out, "uds bound-only: kept: bound: a socket is bound to this file"));
  EXPECT_TRUE(has_line(r.out, "uds dgram: kept: bound: a socket is bound to this file"));
  EXPECT_TRUE(has_line(r.out, "uds hardlink: kept: bound: a socket is bound to this file"));
  EXPECT_TRUE(has_line(r.out, "uds x.sock: skipped: not a socket file (regular file)"));
  EXPECT_TRUE(has_line(r.out, "uds link.sock: skipped: not a socket file (symlink)"));
  EXPECT_TRUE(has_line(r.out, "uds other-uid-stale: kept: owned by uid 4242, not " + owner));
  EXPECT_TRUE(has_line(r.out, "summary: uds 3 removed, 6 kept, 0 errors"));
  for (const char* gone : {"stale-stream", "stale-dgram", "actor@999999.sock"})
    EXPECT_FALSE(exists(gone)) << gone;
  for (const char* kept : {"registry@1616.sock", "listening", "bound-only", "dgram", "hardlink",
                           "x.sock", "link.sock", "other-uid-stale"})
    EXPECT_TRUE(exists(kept)) << kept;
}

TEST_F(UdsTest, JsonAndUnprivileged) {
  bind_at("stale", SOCK_STREAM, true, true);
  bind_at("live", SOCK_DGRAM, false, false);
  RunOptions as_owner;
  as_owner.as_uid = test_uid();
  auto r = run_reap({"--uds-only", "--uds-dir", dir(), "--json"}, as_owner);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["sweeps"].size(), 1u);
  EXPECT_EQ(j["sweeps"][0]["kind"], "uds");
  std::map<std::string, std::string> verdicts;
  for (const auto& i : j["sweeps"][0]["items"]) verdicts[i["name"]] = i["verdict"];
  EXPECT_EQ(verdicts["stale"], "removed");
  EXPECT_EQ(verdicts["live"], "kept");
  EXPECT_EQ(j["summary"]["removed"], 1);
}

TEST_F(UdsTest, MissingExplicitDirIsAnErrorAndMissingDefaultIsNothingToDo) {
  auto r = run_reap({"--uds-only", "--uds-dir", dir() + "/nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has_line_like(r.err, "reap: error: --uds-dir "));
  // The default bindspace ($XDG_RUNTIME_DIR/tractor) pointed at a directory that does not
  // exist: nothing to do, exit 0.
  auto argv = std::vector<std::string>{"env", "XDG_RUNTIME_DIR=" + dir() + "/none", reap_bin(),
                                       "--uds-only"};
  auto d = run_command(argv, as_reap_user());
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_TRUE(has_line_like(d.out, "uds " + dir() + "/none/tractor: no such directory"));
}

TEST_F(UdsTest, SocketBoundInAnotherNetworkNamespaceEnteredByRoot) {
  if (unprivileged())
    GTEST_SKIP() << "needs a root reap: querying another network namespace's socket table means "
                    "entering it (setns), which needs CAP_SYS_ADMIN; the unprivileged case is "
                    "UnqueryableNamespaceKeepsWhatItsProcessCouldHaveBound";
  int rd = -1;
  bind_in_other_netns(dir() + "/elsewhere", false, rd);
  bind_at("stale", SOCK_STREAM, true, true);
  auto r = run_reap({"--uds-only", "--uds-dir", dir(), "--uid", std::to_string(test_uid())});
  ::close(rd);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "uds elsewhere: kept: bound: a socket is bound to this file"));
  EXPECT_TRUE(has_line(r.out, "uds stale: removed: nothing bound"));
  EXPECT_TRUE(exists("elsewhere"));
}

TEST_F(UdsTest, UnqueryableNamespaceKeepsWhatItsProcessCouldHaveBound) {
  int rd = -1;
  pid_t child = bind_in_other_netns(dir() + "/elsewhere", true, rd);
  bind_at("stale", SOCK_STREAM, true, true);
  RunOptions as_owner;
  as_owner.as_uid = test_uid();
  auto r = run_reap({"--uds-only", "--uds-dir", dir()}, as_owner);
  ::close(rd);
  EXPECT_EQ(r.exit_code, 0);
  std::string why = "kept: unverifiable: pid " + std::to_string(child);
  EXPECT_TRUE(has_line_like(r.out, "uds elsewhere: " + why, "Operation not permitted"));
  EXPECT_TRUE(has_line_like(r.out, "uds stale: " + why, "Operation not permitted"));
  EXPECT_TRUE(exists("elsewhere"));
  EXPECT_TRUE(exists("stale"));
}

}  // namespace
}  // namespace reap_e2e
