#include "core/test_scope.hpp"

#include <gtest/gtest.h>

#include "fake_snapshot.hpp"

namespace reap::core {
namespace {

using testing::args;
using testing::proc;
using testing::snapshot;

constexpr uid_t kMe = 1000;

std::vector<pid_t> pids(const std::set<ProcessKey>& keys) {
  std::vector<pid_t> out;
  for (const auto& k : keys) out.push_back(k.first);
  return out;
}

// init(1) -> pytest(10) -> {old child 11 -> 12}; reap(13) is pytest's child too.
std::vector<os::ProcessInfo> start() {
  return {proc(1, 0, 0, "init"), proc(10, 1, kMe, "pytest"), proc(11, 10, kMe, "server"),
          proc(12, 11, kMe, "worker"), proc(13, 10, kMe, "reap")};
}

TEST(TestScope, NewSubtreesBelowTheRootAreMembersOldOnesAndTheirNewChildrenAreNot) {
  auto base = scope_baseline(snapshot(start()), 10);
  EXPECT_EQ(base.root_start, 1010u);
  EXPECT_EQ(base.present.size(), 3u);
  auto procs = start();
  procs.push_back(proc(20, 10, kMe, "sleep"));   // new child
  procs.push_back(proc(21, 20, kMe, "sleep"));   // its child
  procs.push_back(proc(22, 11, kMe, "worker"));  // new child of an old process: not the test's
  procs.push_back(proc(23, 1, kMe, "orphan"));   // escaped to init: not below the root
  auto snap = snapshot(procs);
  EXPECT_EQ(pids(scope_members(snap, base, {})), (std::vector<pid_t>{20, 21}));
}

TEST(TestScope, SparedHelpersAndWhatIsBelowThemAreNotMembers) {
  auto base = scope_baseline(snapshot(start()), 10);
  auto procs = start();
  procs.push_back(
      proc(30, 10, kMe, "python3",
           args({"python3", "-c", "from multiprocessing.resource_tracker import main;main(5)"})));
  procs.push_back(proc(31, 10, kMe, "python3",
                       args({"python3", "-c", "from multiprocessing.forkserver import main"})));
  procs.push_back(proc(32, 31, kMe, "python3"));
  procs.push_back(proc(33, 10, kMe, "sh", args({"sh", "-c", "sleep 9", "my-helper"})));
  procs.push_back(proc(34, 10, kMe, "sleep", args({"sleep", "9"})));
  auto snap = snapshot(procs);
  EXPECT_EQ(pids(scope_members(snap, base, {"my-helper"})), (std::vector<pid_t>{34}));
  EXPECT_EQ(pids(scope_members(snap, base, {})), (std::vector<pid_t>{33, 34}));
}

TEST(TestScope, AReusedPidIsNewAndAReplacedRootGivesNothing) {
  auto base = scope_baseline(snapshot(start()), 10);
  auto procs = start();
  procs[2].starttime += 5;  // pid 11 now names another process; 12 (same identity) is old
  EXPECT_EQ(pids(scope_members(snapshot(procs), base, {})), (std::vector<pid_t>{11}));
  procs = start();
  procs[1].starttime += 5;  // the root pid itself was reused
  procs.push_back(proc(20, 10, kMe, "sleep"));
  EXPECT_TRUE(scope_members(snapshot(procs), base, {}).empty());
}

TEST(TestScope, PlanKeepsOtherUidsAndNeverTakesTheCallerOrItsAncestors) {
  auto base = scope_baseline(snapshot(start()), 10);
  auto procs = start();
  procs.push_back(proc(40, 10, kMe, "sleep"));
  procs.push_back(proc(41, 10, 0, "sudo"));
  procs.push_back(proc(42, 10, kMe, "reap"));  // a later reap: the caller
  auto plan = plan_scope_processes(snapshot(procs), base, {}, kMe, 42);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].pid, 40);
  EXPECT_EQ(plan[0].verdict, ProcessVerdict::Reap);
  EXPECT_EQ(plan[1].pid, 41);
  EXPECT_EQ(plan[1].verdict, ProcessVerdict::Kept);
}

TEST(TestScope, NewEntriesAreThoseAbsentFromTheBaselineByIdentity) {
  std::vector<os::DirEntry> before{testing::file("a", 1, kMe), testing::file("b", 2, kMe)};
  auto dir = scope_dir("/dev/shm/x", 42, 7, before);
  std::vector<os::DirEntry> after{testing::file("a", 1, kMe), testing::file("b", 3, kMe),
                                  testing::file("c", 4, kMe)};
  auto fresh = new_entries(after, dir);
  ASSERT_EQ(fresh.size(), 2u);  // "b" was replaced by another file: new
  EXPECT_EQ(fresh[0].name, "b");
  EXPECT_EQ(fresh[1].name, "c");
}

TEST(TestScope, NewZombieChildrenOfTheRootAreCollected) {
  auto base = scope_baseline(snapshot(start()), 10);
  auto procs = start();
  auto z = proc(50, 10, kMe, "sleep");
  z.state = 'Z';
  procs.push_back(z);
  procs[2].state = 'Z';  // an old child that exited: its owner waits for it
  EXPECT_EQ(scope_zombies(snapshot(procs), base), (std::vector<pid_t>{50}));
}

}  // namespace
}  // namespace reap::core
