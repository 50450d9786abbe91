// The unit tests' main: GoogleTest with reap's own leak listener, so a unit test that leaves
// a process behind fails by name (and the process is reaped).
#include <gtest/gtest.h>
#include <reap/gtest.hpp>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new reap::gtest::LeakListener());
  return RUN_ALL_TESTS();
}
