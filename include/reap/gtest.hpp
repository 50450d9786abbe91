// reap for GoogleTest: a listener that reaps what each test leaked and names the test.
//
//   #include <reap/gtest.hpp>
//   ::testing::UnitTest::GetInstance()->listeners().Append(new reap::gtest::LeakListener());
//
// At program start the test binary becomes a child subreaper (orphans of its tests come back
// below it however they detached). Each test's leak is what appeared below the binary (and,
// with `shm_dir`, in that directory) during the test and is still there: it is reaped
// (SIGINT, `grace`, SIGKILL) or swept by the rules of `reap --shm-only`, and with
// `fail_on_leak` the test fails, naming each item. After the last test (and the global
// environments' teardown) the same runs once more against the program-start baseline; a leak
// found then fails the run. The rule is reap's core/test_scope, the one `reap scope` uses.
// Link with reap::gtest (CMake target reap_gtest).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace reap::gtest {

struct LeakOptions {
  double grace = 3.0;      ///< seconds between SIGINT and SIGKILL
  double kill_wait = 2.0;  ///< bound on the wait after SIGKILL
  bool fail_on_leak = true;
  std::string shm_dir;             ///< sweep new segments of this directory; empty: no sweep
  std::vector<std::string> spare;  ///< a process whose cmdline contains one of these is no leak
  bool quiet = false;              ///< do not print what was reaped (failures still say it)
};

class LeakListener : public ::testing::EmptyTestEventListener {
 public:
  explicit LeakListener(LeakOptions options = {});
  ~LeakListener() override;
  LeakListener(const LeakListener&) = delete;
  LeakListener& operator=(const LeakListener&) = delete;

  void OnTestProgramStart(const ::testing::UnitTest& unit_test) override;
  void OnTestStart(const ::testing::TestInfo& test_info) override;
  void OnTestEnd(const ::testing::TestInfo& test_info) override;
  void OnTestIterationEnd(const ::testing::UnitTest& unit_test, int iteration) override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace reap::gtest
