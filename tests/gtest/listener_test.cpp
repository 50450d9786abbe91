// reap::gtest::LeakListener, seen from outside: runs reap-gtest-leaky (its tests leak on
// purpose) and checks which test is named, the exit status, that the victims are gone and
// that a segment from before the run is untouched. As root, the leaky program runs as the
// unused uid 65534 (its segments are then private to a uid no uninspectable process has).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;
constexpr uid_t kNobody = 65534;

std::optional<unsigned long long> start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = stat.rfind(')');
  if (pos == std::string::npos) return std::nullopt;
  char state = stat[pos + 2];
  if (state == 'Z' || state == 'X') return std::nullopt;
  pos += 2;
  for (int i = 0; i < 19; ++i) pos = stat.find(' ', pos + 1);
  return std::strtoull(stat.c_str() + pos + 1, nullptr, 10);
}

class Listener : public ::testing::Test {
 protected:
  void SetUp() override {
    char shm[] = "/dev/shm/reap-gtest.XXXXXX";
    ASSERT_NE(::mkdtemp(shm), nullptr);
    shm_ = shm;
    char tmp[] = "/tmp/reap-gtest.XXXXXX";
    ASSERT_NE(::mkdtemp(tmp), nullptr);
    tmp_ = tmp;
    victims_ = tmp_ + "/victims";
    std::ofstream(victims_).close();
    int fd = ::open((shm_ + "/psm_before").c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
    if (::geteuid() == 0) {
      for (const auto& p : {shm_, tmp_, victims_, shm_ + "/psm_before"})
        ASSERT_EQ(::chown(p.c_str(), kNobody, kNobody), 0);
    }
  }
  void TearDown() override {
    for (auto [pid, start] : victims()) {  // whatever a failed check left: by pidfd
      int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      if (fd < 0) continue;
      if (start_time(pid) == start) ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
      ::close(fd);
    }
    fs::remove_all(shm_);
    fs::remove_all(tmp_);
  }

  std::vector<std::pair<pid_t, unsigned long long>> victims() const {
    std::vector<std::pair<pid_t, unsigned long long>> out;
    std::ifstream in(victims_);
    pid_t pid;
    unsigned long long start;
    while (in >> pid >> start) out.emplace_back(pid, start);
    return out;
  }

  /// Runs the leaky program; returns (exit status, stdout+stderr).
  std::pair<int, std::string> run(const std::string& filter, bool fail) {
    std::string cmd;
    if (::geteuid() == 0) cmd = "setpriv --reuid 65534 --regid 65534 --clear-groups ";
    cmd += "env REAP_GT_VICTIMS=" + victims_ + " REAP_GT_SHM=" + shm_ +
           " REAP_GT_FAIL=" + (fail ? "1" : "0") + " " + REAP_GTEST_LEAKY_BIN +
           " --gtest_filter='" + filter + "' 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
  }

  void expect_all_victims_gone() {
    auto v = victims();
    EXPECT_EQ(v.size(), 2u);
    for (auto [pid, start] : v) EXPECT_NE(start_time(pid), start) << "victim " << pid << " lives";
    EXPECT_FALSE(fs::exists(shm_ + "/psm_gtest_leak"));
    EXPECT_TRUE(fs::exists(shm_ + "/psm_before"));  // older than the run: never looked at
  }

  std::string shm_, tmp_, victims_;
};

TEST_F(Listener, FailOnLeakFailsEachLeakingTestByNameAndReapsItsLeak) {
  auto [status, out] = run("Leaky.*:Clean.*", true);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("Leaky.DoubleForkedSetsidDaemonInAnotherCwd leaked (reaped by reap):"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("[  FAILED  ] Leaky.DoubleForkedSetsidDaemonInAnotherCwd"), std::string::npos);
  EXPECT_NE(out.find("killed: ignores SIGINT"), std::string::npos) << out;
  EXPECT_NE(out.find("[  FAILED  ] Leaky.ChildIgnoringSigint"), std::string::npos) << out;
  EXPECT_NE(out.find("shm psm_gtest_leak: unlinked"), std::string::npos) << out;
  EXPECT_NE(out.find("[  FAILED  ] Leaky.SegmentInPrivateDir"), std::string::npos) << out;
  EXPECT_NE(out.find("[       OK ] Clean.WaitedChildAndNothingLeft"), std::string::npos) << out;
  EXPECT_NE(out.find("3 FAILED TESTS"), std::string::npos) << out;
  expect_all_victims_gone();
}

TEST_F(Listener, WithoutFailOnLeakTheRunPassesAndStillReaps) {
  auto [status, out] = run("Leaky.*:Clean.*", false);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("reap: Leaky.ChildIgnoringSigint leaked:"), std::string::npos) << out;
  expect_all_victims_gone();
}

TEST_F(Listener, ACleanTestPasses) {
  auto [status, out] = run("Clean.*", true);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out.find("leaked"), std::string::npos) << out;
}

}  // namespace
