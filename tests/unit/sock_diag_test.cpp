// os::bound_unix_files against real sockets bound in a private directory.
#include "os/sock_diag.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

namespace reap::os {
namespace {

class SockDiagTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/reap-uds.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    std::filesystem::remove_all(dir_);
  }
  /// A socket of `type` bound to dir/name; listening when asked. The fd stays open.
  int bind_at(const std::string& name, int type, bool listen) {
    int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = dir_ + "/" + name;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    if (listen) {
      EXPECT_EQ(::listen(fd, 1), 0);
    }
    fds_.push_back(fd);
    return fd;
  }
  DevIno id_of(const std::string& name) {
    struct stat st;
    EXPECT_EQ(::lstat((dir_ + "/" + name).c_str(), &st), 0);
    return DevIno::of(st);
  }
  std::string dir_;
  std::vector<int> fds_;
};

TEST_F(SockDiagTest, KernelDevEncoding) {
  EXPECT_EQ(kernel_dev_to_dev((8u << 20) | 1u), makedev(8, 1));
  EXPECT_EQ(kernel_dev_to_dev((259u << 20) | 70000u), makedev(259, 70000));
}

TEST_F(SockDiagTest, BoundSocketsOfEveryKindAreSeenByIdentity) {
  bind_at("listening", SOCK_STREAM, true);
  bind_at("bound-only", SOCK_STREAM, false);
  bind_at("dgram", SOCK_DGRAM, false);
  bind_at("seqpacket", SOCK_SEQPACKET, true);
  int closed = bind_at("stale", SOCK_STREAM, true);
  ::close(closed);
  fds_.pop_back();
  ASSERT_EQ(::link((dir_ + "/listening").c_str(), (dir_ + "/hardlink").c_str()), 0);
  DevInoSet bound;
  ASSERT_EQ(bound_unix_files(bound), 0);
  EXPECT_TRUE(bound.count(id_of("listening")));
  EXPECT_TRUE(bound.count(id_of("hardlink")));  // same inode: live through any name
  EXPECT_TRUE(bound.count(id_of("bound-only")));
  EXPECT_TRUE(bound.count(id_of("dgram")));
  EXPECT_TRUE(bound.count(id_of("seqpacket")));
  EXPECT_FALSE(bound.count(id_of("stale")));
}

TEST_F(SockDiagTest, QueriesANamespaceEnteredByFd) {
  bind_at("mine", SOCK_STREAM, true);
  int nsfd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(nsfd, 0);
  DevInoSet bound;
  int err = bound_unix_files_in(nsfd, bound);
  ::close(nsfd);
  if (err == EPERM) GTEST_SKIP() << "setns not permitted here (not root)";
  ASSERT_EQ(err, 0);
  EXPECT_TRUE(bound.count(id_of("mine")));
}

TEST_F(SockDiagTest, SurveyQueriesOwnNamespace) {
  bind_at("mine", SOCK_DGRAM, false);
  Snapshot snap;  // no processes: only reap's own namespace
  auto survey = survey_unix_sockets(snap, "/proc");
  EXPECT_EQ(survey.own_errno, 0);
  EXPECT_TRUE(survey.blockers.empty());
  EXPECT_TRUE(survey.bound.count(id_of("mine")));
}

}  // namespace
}  // namespace reap::os
