// A test program of a project outside reap that uses the installed reap::gtest listener (whose
// archive carries the CLI code it runs): one test that leaves nothing behind, so it passes.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <reap/gtest.hpp>

TEST(Consumer, AChildThatIsWaitedForIsNoLeak) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new reap::gtest::LeakListener());
  return RUN_ALL_TESTS();
}
