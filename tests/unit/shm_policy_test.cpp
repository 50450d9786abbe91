#include "core/shm_policy.hpp"

#include <gtest/gtest.h>

#include "fake_snapshot.hpp"

namespace reap::core {
namespace {

using testing::file;
using testing::proc;
using testing::snapshot;

constexpr uid_t kMe = 1000;

ShmPolicy policy() {
  ShmPolicy p;
  p.uid = kMe;
  p.now = 100000;
  return p;
}

std::vector<ShmPlanItem> plan(const std::vector<os::DirEntry>& entries, const os::Snapshot& s,
                              const ShmPolicy& p = policy()) {
  return plan_shm(entries, s, p);
}

TEST(ShmPolicy, UnheldOwnFileIsUnlinked) {
  auto items = plan({file("a", 1, kMe)}, snapshot({proc(10, 1, kMe, "x")}));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Unlink);
}

TEST(ShmPolicy, HeldByFdOrMappingIsKeptNamingThePid) {
  auto s = snapshot({proc(10, 1, kMe, "python3"), proc(11, 1, kMe, "worker")});
  s.holders[{42, 1}].push_back({10, os::HoldKind::Mmap});
  s.holders[{42, 2}].push_back({11, os::HoldKind::Fd});
  auto items = plan({file("a", 1, kMe), file("b", 2, kMe)}, s);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Kept);
  EXPECT_EQ(items[0].reason, "mapped by pid 10 (python3)");
  EXPECT_EQ(items[0].holder, 10);
  EXPECT_EQ(items[1].reason, "open by pid 11 (worker)");
}

TEST(ShmPolicy, SameInodeOnOtherDeviceIsNotAHold) {
  auto s = snapshot({proc(10, 1, kMe, "x")});
  s.holders[{43, 1}].push_back({10, os::HoldKind::Fd});
  EXPECT_EQ(plan({file("a", 1, kMe)}, s)[0].verdict, ShmVerdict::Unlink);
}

TEST(ShmPolicy, OtherOwnersAndNonRegularFilesAreNotCandidates) {
  auto items = plan({file("root", 1, 0), file("dir", 2, kMe, S_IFDIR | 0700),
                     file("link", 3, kMe, S_IFLNK | 0777)},
                    snapshot({}));
  EXPECT_EQ(items[0].verdict, ShmVerdict::Kept);
  EXPECT_EQ(items[0].reason, "owned by uid 0, not 1000");
  EXPECT_EQ(items[1].verdict, ShmVerdict::Skipped);
  EXPECT_EQ(items[1].reason, "not a regular file (directory)");
  EXPECT_EQ(items[2].reason, "not a regular file (symlink)");
}

TEST(ShmPolicy, MinAgeKeepsRecentlyChangedSegments) {
  auto p = policy();
  p.min_age = 60;
  auto items = plan({file("new", 1, kMe, S_IFREG | 0600, p.now - 5),
                     file("old", 2, kMe, S_IFREG | 0600, p.now - 120)},
                    snapshot({}), p);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Kept);
  EXPECT_NE(items[0].reason.find("younger than --min-age"), std::string::npos);
  EXPECT_EQ(items[1].verdict, ShmVerdict::Unlink);
}

TEST(ShmPolicy, ChangedSinceTheListingBeganIsKeptAsTooNewUnlessHeld) {
  // An entry lstat'ed after the scan began: only a ctime before the listing proves it was
  // there, under this name, for the scan to see its holders. Equal counts as after (tmpfs
  // stamps with the same coarse clock).
  auto p = policy();
  p.listed_at = timespec{1000, 500};
  auto s = snapshot({proc(10, 1, kMe, "worker")});
  s.holders[{42, 4}].push_back({10, os::HoldKind::Fd});
  auto e = [](const char* name, ino_t ino, time_t sec, long nsec) {
    auto f = file(name, ino, kMe);
    f.st.st_ctim = timespec{sec, nsec};
    f.st.st_mtim = timespec{0, 0};
    return f;
  };
  auto items = plan({e("before", 1, 1000, 499), e("at", 2, 1000, 500), e("after", 3, 1001, 0),
                     e("held-after", 4, 1001, 0)},
                    s, p);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Unlink);
  EXPECT_EQ(items[1].verdict, ShmVerdict::Kept);
  EXPECT_NE(items[1].reason.find("too new"), std::string::npos) << items[1].reason;
  EXPECT_EQ(items[2].verdict, ShmVerdict::Kept);
  EXPECT_EQ(items[3].reason, "open by pid 10 (worker)");  // a holder says more than "new"
  p.listed_at.reset();  // listed (lstat'ed) before the scan: no such rule
  EXPECT_EQ(plan({e("after", 3, 1001, 0)}, s, p)[0].verdict, ShmVerdict::Unlink);
}

TEST(ShmPolicy, AWallClockStepBackMovesTheListingTimeBackByTheStep) {
  auto f = file("a", 1, kMe);
  f.st.st_ctim = timespec{999, 900000000};  // 0.1 s before the listing
  const timespec listed{1000, 0};
  EXPECT_FALSE(changed_since_listing(f.st, listed));
  EXPECT_FALSE(changed_since_listing(f.st, listed, 50000000));  // stepped back 0.05 s
  EXPECT_TRUE(changed_since_listing(f.st, listed, 100000000));  // 0.1 s: could be after it
  EXPECT_TRUE(changed_since_listing(f.st, listed, 3600LL * 1000000000LL));
}

TEST(ShmPolicy, OnAnotherDeviceThanTheWatchedOneIsKept) {
  auto p = policy();
  auto items = plan({file("here", 1, kMe)}, snapshot({}), p);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Unlink);
  p.watched_dev = 43;  // the fake files are on device 42
  items = plan({file("mounted-over", 1, kMe)}, snapshot({}), p);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Kept);
  EXPECT_NE(items[0].reason.find("another file system"), std::string::npos) << items[0].reason;
  p.watched_dev = 42;
  EXPECT_EQ(plan({file("here", 1, kMe)}, snapshot({}), p)[0].verdict, ShmVerdict::Unlink);
}

TEST(ShmPolicy, UninspectableSameUidProcessBlocksPrivateSegment) {
  auto s = snapshot({testing::uninspectable(proc(77, 1, kMe, "setuid-thing"))});
  auto items = plan({file("a", 1, kMe)}, s);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Kept);
  EXPECT_EQ(items[0].reason,
            "unverifiable: pid 77 (setuid-thing) could not be inspected "
            "(permission denied)");
}

TEST(ShmPolicy, UninspectableOtherUidBlocksOnlyWhatItsUidOrGroupsCouldOpen) {
  auto other = testing::uninspectable(proc(77, 1, 2000, "other"));
  other.groups = {1000};
  auto s = snapshot({other});
  auto items = plan({file("private", 1, kMe, S_IFREG | 0600), file("group", 2, kMe, S_IFREG | 0640),
                     file("world", 3, kMe, S_IFREG | 0604)},
                    s);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Unlink);
  EXPECT_EQ(items[1].verdict, ShmVerdict::Kept) << "group 1000 admits pid 77";
  EXPECT_EQ(items[2].verdict, ShmVerdict::Kept) << "other bits admit anyone";
}

TEST(ShmPolicy, UninspectableRootBlocksRootOwnedButNotOthersPrivateSegments) {
  auto s = snapshot({testing::uninspectable(proc(1, 0, 0, "init"))});
  auto p = policy();
  EXPECT_EQ(plan({file("mine", 1, kMe)}, s, p)[0].verdict, ShmVerdict::Unlink);
  p.uid = 0;
  EXPECT_EQ(plan({file("roots", 2, 0)}, s, p)[0].verdict, ShmVerdict::Kept);
}

TEST(ShmPolicy, UninspectableWithoutStatusFailsClosed) {
  auto p = testing::uninspectable(proc(77, 1, 2000, "ghost"));
  p.have_status = false;
  EXPECT_EQ(plan({file("a", 1, kMe)}, snapshot({p}))[0].verdict, ShmVerdict::Kept);
}

TEST(ShmPolicy, TheOneOverrideIgnoresUninspectable) {
  auto s = snapshot({testing::uninspectable(proc(77, 1, kMe, "x"))});
  auto p = policy();
  p.ignore_uninspectable = true;
  EXPECT_EQ(plan({file("a", 1, kMe)}, s, p)[0].verdict, ShmVerdict::Unlink);
  auto blockers = blocking_uninspectable({file("a", 1, kMe)}, s, p);
  ASSERT_EQ(blockers.size(), 1u);
  EXPECT_EQ(blockers[0]->pid, 77);
}

// What the shm and mqueue sweeps share (cli/shm_sweep.cpp, cli/sweeps.cpp).
TEST(ShmPolicy, PolicyFromASweepContext) {
  SweepContext c;
  c.uid = kMe;
  c.min_age = 5.0;
  c.now = 123;
  c.ignore_uninspectable = true;
  c.discounted = {10, 11};
  ShmPolicy p = shm_policy_for(c);
  EXPECT_EQ(p.uid, kMe);
  EXPECT_EQ(p.min_age, 5.0);
  EXPECT_EQ(p.now, 123);
  EXPECT_TRUE(p.ignore_uninspectable);
  EXPECT_EQ(p.discounted, (std::set<pid_t>{10, 11}));
}

TEST(ShmPolicy, BlockerPidsIgnoreTheOverrideAndTheDiscounted) {
  auto s = snapshot({testing::uninspectable(proc(77, 1, kMe, "x")),
                     testing::uninspectable(proc(78, 1, kMe, "y")),
                     testing::uninspectable(proc(79, 1, 4242, "other"))});
  auto p = policy();
  p.ignore_uninspectable = true;  // the report names the blockers all the same
  p.discounted = {78};            // about to be reaped: blocks nothing
  EXPECT_EQ(blocker_pids({file("a", 1, kMe)}, s, p), (std::set<pid_t>{77}));
}

TEST(ShmPolicy, OnlyExitingHoldersAreWaitedFor) {
  auto exiting = proc(10, 1, kMe, "big");
  exiting.exiting = true;
  auto s = snapshot({exiting, proc(11, 1, kMe, "live")});
  std::set<pid_t> out;
  add_if_exiting(s, 10, out);
  add_if_exiting(s, 11, out);
  add_if_exiting(s, 12, out);  // not in the snapshot
  add_if_exiting(s, std::nullopt, out);
  EXPECT_EQ(out, (std::set<pid_t>{10}));
}

TEST(ShmPolicy, DiscountedHoldersDoNotKeep) {
  auto s = snapshot({proc(10, 1, kMe, "python3")});
  s.holders[{42, 1}].push_back({10, os::HoldKind::Fd});
  auto p = policy();
  p.discounted = {10};
  EXPECT_EQ(plan({file("a", 1, kMe)}, s, p)[0].verdict, ShmVerdict::Unlink);
}

}  // namespace
}  // namespace reap::core

namespace reap::core {
namespace {

TEST(ShmPolicy, HiddenProcessWithKnownOwnerBlocksOnlyWhatItsUidOrSharedBitsAdmit) {
  os::ProcessInfo hidden;
  hidden.pid = 55;
  hidden.inspected = false;
  hidden.have_status = false;
  hidden.owner_hint = 2000;
  auto s = testing::snapshot({hidden});
  auto p = policy();
  auto items = plan({testing::file("private", 1, kMe, S_IFREG | 0600),
                     testing::file("group", 2, kMe, S_IFREG | 0660)},
                    s, p);
  EXPECT_EQ(items[0].verdict, ShmVerdict::Unlink);
  EXPECT_EQ(items[1].verdict, ShmVerdict::Kept);
  hidden.owner_hint = kMe;
  EXPECT_EQ(plan({testing::file("private", 1, kMe)}, testing::snapshot({hidden}), p)[0].verdict,
            ShmVerdict::Kept);
}

}  // namespace
}  // namespace reap::core
