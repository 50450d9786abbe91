#include "core/process_policy.hpp"

#include <gtest/gtest.h>

#include "fake_snapshot.hpp"
#include "os/proc_parse.hpp"

namespace reap::core {
namespace {

using testing::args;
using testing::proc;
using testing::snapshot;

constexpr uid_t kMe = 1000;
const os::DevIno kRepo{8, 500};

os::ProcessInfo in_repo(os::ProcessInfo p) {
  p.cwd = kRepo;
  return p;
}

ProcessSelection orphans(pid_t self) {
  ProcessSelection sel;
  sel.uid = kMe;
  sel.cwd = kRepo;
  sel.match = {"python"};
  sel.self = self;
  return sel;
}

std::vector<pid_t> pids(const std::vector<ProcessPlanItem>& plan) {
  std::vector<pid_t> out;
  for (const auto& i : plan) out.push_back(i.pid);
  return out;
}

// A machine: init(1) -> shell(100) -> reap(101); orphans adopted by 1.
std::vector<os::ProcessInfo> machine() {
  return {proc(1, 0, 0, "init"), proc(100, 1, kMe, "bash"), proc(101, 100, kMe, "reap")};
}

TEST(OrphanMode, TakesAdoptedMatchingProcessesInTheRepoAndTheirWholeTrees) {
  auto ps = machine();
  ps.push_back(in_repo(proc(200, 1, kMe, "python3", args({"python3", "-m", "pytest"}))));
  ps.push_back(proc(201, 200, kMe, "sleep", args({"sleep", "100"})));     // other cwd: still in
  ps.push_back(proc(300, 1, kMe, "python3", args({"python3", "x.py"})));  // other cwd
  ps.push_back(in_repo(proc(400, 1, kMe, "node", args({"node", "srv.js"}))));  // no match
  ps.push_back(in_repo(proc(500, 100, kMe, "python3", args({"python3"}))));    // not orphan
  auto plan = plan_processes(snapshot(ps), orphans(101));
  EXPECT_EQ(pids(plan), (std::vector<pid_t>{200, 201}));
  EXPECT_EQ(plan[0].verdict, ProcessVerdict::Reap);
}

TEST(OrphanMode, TractorMarkersCountWithoutThePythonMatch) {
  auto ps = machine();
  ps.push_back(in_repo(proc(200, 1, kMe, "x", args({"/opt/bin/runner", "_subactor[", "a"}))));
  ps.push_back(in_repo(proc(201, 1, kMe, "x", args({"run", "tractor._child"}))));
  auto sel = orphans(101);
  sel.match = {"nothing-matches-this"};
  EXPECT_EQ(pids(plan_processes(snapshot(ps), sel)), (std::vector<pid_t>{200, 201}));
}

TEST(OrphanMode, OtherUidOrphansAreNotTakenAndOtherUidDescendantsAreKept) {
  auto ps = machine();
  ps.push_back(in_repo(proc(200, 1, 0, "python3", args({"python3"}))));
  ps.push_back(in_repo(proc(300, 1, kMe, "python3", args({"python3"}))));
  ps.push_back(proc(301, 300, 0, "sudo"));
  auto plan = plan_processes(snapshot(ps), orphans(101));
  ASSERT_EQ(pids(plan), (std::vector<pid_t>{300, 301}));
  EXPECT_EQ(plan[1].verdict, ProcessVerdict::Kept);
  EXPECT_EQ(plan[1].reason, "owned by uid 0, not 1000");
}

TEST(OrphanMode, SubreapersAndNamedAdoptersAdopt) {
  auto ps = machine();
  ps.push_back(proc(50, 1, kMe, "systemd", args({"/lib/systemd/systemd", "--user"})));
  ps.push_back(in_repo(proc(200, 50, kMe, "python3", args({"python3"}))));
  ps.push_back(proc(60, 1, kMe, "harness"));
  ps.push_back(in_repo(proc(300, 60, kMe, "python3", args({"python3"}))));
  auto sel = orphans(101);
  EXPECT_EQ(pids(plan_processes(snapshot(ps), sel)), (std::vector<pid_t>{200}));
  sel.adopters = {60};
  EXPECT_EQ(pids(plan_processes(snapshot(ps), sel)), (std::vector<pid_t>{200, 300}));
}

TEST(OrphanMode, NeverTakesReapOrItsAncestorsOrKernelThreadsOrZombies) {
  auto ps = machine();
  for (auto& p : ps)
    if (p.pid == 100) p = in_repo(proc(100, 1, kMe, "python3", args({"python3", "shell.py"})));
  auto z = in_repo(proc(200, 1, kMe, "python3", args({"python3"})));
  z.state = 'Z';
  ps.push_back(z);
  auto k = proc(3, 2, kMe, "python-kworker");
  k.flags = os::kPfKthread;
  ps.push_back(k);
  EXPECT_TRUE(plan_processes(snapshot(ps), orphans(101)).empty());
}

TEST(OrphanMode, IgnoringSigintMeansKillAtOnce) {
  auto ps = machine();
  auto p = in_repo(proc(200, 1, kMe, "python3", args({"python3"})));
  p.sig_ign = 1ull << (SIGINT - 1);
  ps.push_back(p);
  auto plan = plan_processes(snapshot(ps), orphans(101));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].verdict, ProcessVerdict::Kill);
}

TEST(DescendantMode, TakesTheSubtreeButNotTheRoot) {
  auto ps = machine();
  ps.push_back(proc(200, 100, kMe, "make"));
  ps.push_back(proc(201, 200, kMe, "cc"));
  ps.push_back(proc(202, 201, kMe, "as"));
  ps.push_back(proc(300, 100, kMe, "vim"));
  ProcessSelection sel;
  sel.mode = ProcessSelection::Mode::Descendant;
  sel.parent = 200;
  sel.uid = kMe;
  sel.self = 101;
  EXPECT_EQ(pids(plan_processes(snapshot(ps), sel)), (std::vector<pid_t>{201, 202}));
}

TEST(Rescan, ChildrenOfKnownMembersAndNewAdoptedForksOfTheirGroupJoin) {
  auto ps = machine();
  auto parent_alive = proc(205, 1, kMe, "dying");  // known member, still there
  parent_alive.starttime = 777;
  ps.push_back(parent_alive);
  ps.push_back(proc(240, 205, kMe, "grandchild"));  // child of a known member
  auto forked = proc(210, 1, kMe, "worker");        // new, adopted, in a known group
  forked.pgrp = 200;
  auto unrelated = proc(220, 1, kMe, "other");     // new, adopted, same uid, other group
  auto old_same_group = proc(230, 1, kMe, "old");  // same group, but seen before
  old_same_group.pgrp = 200;
  auto other_uid = proc(250, 1, 0, "root-thing");  // new, same group, other uid
  other_uid.pgrp = 200;
  auto reused_parent = proc(260, 1, kMe, "reused");  // pid 260 was known, now reused
  reused_parent.starttime = 9999;
  ps.push_back(proc(261, 260, kMe, "child-of-reused"));
  for (auto* p : {&forked, &unrelated, &old_same_group, &other_uid, &reused_parent})
    ps.push_back(*p);
  ProcessSelection sel;
  sel.mode = ProcessSelection::Mode::Descendant;
  sel.parent = 100;
  sel.uid = kMe;
  sel.self = 101;
  RescanContext context;
  context.known = {{200, 700, 200, {}}, {205, 777, 200, {}}, {260, 260, 200, {}}};
  context.seen = {{230, old_same_group.starttime}};
  auto plan = plan_processes(snapshot(ps), sel, &context);
  EXPECT_EQ(pids(plan), (std::vector<pid_t>{210, 240}));
}

TEST(RefuseParent, DangerousOrMissingTargets) {
  auto s = snapshot(machine());
  EXPECT_TRUE(refuse_parent(s, 1, 101));
  EXPECT_TRUE(refuse_parent(s, 101, 101));
  auto anc = refuse_parent(s, 100, 101);
  ASSERT_TRUE(anc);
  EXPECT_NE(anc->find("ancestor"), std::string::npos);
  auto missing = refuse_parent(s, 999, 101);
  ASSERT_TRUE(missing);
  EXPECT_EQ(*missing, "--parent 999: no such process");
}

TEST(RefuseParent, AcceptsAnUnrelatedLiveProcess) {
  auto ps = machine();
  ps.push_back(proc(200, 1, kMe, "daemon"));
  EXPECT_FALSE(refuse_parent(snapshot(ps), 200, 101));
}

}  // namespace
}  // namespace reap::core
