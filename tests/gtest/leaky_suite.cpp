// reap-gtest-leaky: a GoogleTest program with reap::gtest::LeakListener whose tests leak on
// purpose; listener_test.cpp runs it and checks what the listener did. Environment:
// REAP_GT_VICTIMS (file to append "pid starttime" of each victim to), REAP_GT_SHM (private
// sweep dir; unset: no sweep), REAP_GT_FAIL ("1": fail_on_leak).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <reap/gtest.hpp>

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

unsigned long long start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = stat.rfind(')') + 2;
  for (int i = 0; i < 19; ++i) pos = stat.find(' ', pos + 1);
  return std::strtoull(stat.c_str() + pos + 1, nullptr, 10);
}

void record(pid_t pid) {
  std::ofstream out(env("REAP_GT_VICTIMS"), std::ios::app);
  out << pid << " " << start_time(pid) << "\n";
}

/// Reads one pid written by a descendant to `fd` once it is set up.
pid_t read_pid(int fd) {
  pid_t pid = 0;
  EXPECT_EQ(::read(fd, &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
  ::close(fd);
  return pid;
}

TEST(Leaky, DoubleForkedSetsidDaemonInAnotherCwd) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::setsid();
    if (::fork() == 0) {
      if (::chdir("/") != 0) ::_exit(1);
      pid_t me = ::getpid();
      if (::write(p[1], &me, sizeof me) != sizeof me) ::_exit(1);
      ::execlp("sleep", "sleep", "300", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::_exit(0);
  }
  ::close(p[1]);
  ::waitpid(child, nullptr, 0);
  record(read_pid(p[0]));
}

TEST(Leaky, ChildIgnoringSigint) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::signal(SIGINT, SIG_IGN);
    pid_t me = ::getpid();
    if (::write(p[1], &me, sizeof me) != sizeof me) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(p[1]);
  record(read_pid(p[0]));
}

TEST(Leaky, SegmentInPrivateDir) {
  std::string path = env("REAP_GT_SHM") + "/psm_gtest_leak";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "x", 1), 1);
  ::close(fd);
}

TEST(Clean, WaitedChildAndNothingLeft) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  reap::gtest::LeakOptions options;
  options.grace = 1.0;
  options.fail_on_leak = env("REAP_GT_FAIL") == "1";
  options.shm_dir = env("REAP_GT_SHM");
  ::testing::UnitTest::GetInstance()->listeners().Append(new reap::gtest::LeakListener(options));
  return RUN_ALL_TESTS();
}
