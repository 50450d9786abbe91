// End-to-end tests of the shm sweep (`reap --shm-only --shm-dir DIR`).
//
// PID 1 of the test machines cannot be inspected, so under the fail-closed rule it blocks
// root-owned segments. The sweeps here therefore run as root for segments owned by an unused
// uid (65534) with `--uid 65534` (act_uid(); in the unprivileged pass, reap runs as the test
// uid and acts for it), or as another uid under setpriv; one test shows the
// root-owned case being kept with the right reason. All segments are mode 0600 unless the
// test is about the mode.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

class ShmSweep : public ReapTest {
 protected:
  void SetUp() override {
    ReapTest::SetUp();
    dir_ = shm_dir();
  }
  std::string seg(const std::string& name) const { return dir_ + "/" + name; }
  // A segment of act_uid() (the --uid of sweep()), or of uid (its gid has the same number).
  void make(const std::string& name) { make(name, act_uid()); }
  void make(const std::string& name, uid_t uid, mode_t mode = 0600) {
    make_file(dir_, name, uid, static_cast<gid_t>(uid), mode);
  }
  RunResult sweep(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--shm-only", "--shm-dir", dir_, "--uid", me()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_reap(args);
  }
  // A segment held only by a mapping (the holder closed its fd) is kept; a free one goes.
  void expect_mapping_keeps_segment(std::vector<std::string> extra) {
    make("mapped");
    make("free");
    pid_t h = spawn_holder({"mmap:" + seg("mapped")});
    RunResult r = sweep(std::move(extra));
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_TRUE(has_line(r.out, "shm mapped: kept: mapped by " + holder_ref(h))) << r.out;
    EXPECT_TRUE(has_line(r.out, "shm free: unlinked")) << r.out;
    EXPECT_TRUE(exists_nofollow(seg("mapped")));
    EXPECT_FALSE(exists_nofollow(seg("free")));
  }
  // The start of the verdict for a segment that holder `pid`, uninspectable, keeps.
  static std::string unverifiable_by(pid_t pid) {
    return "kept: unverifiable: " + holder_ref(pid) + " could not be inspected (permission denied";
  }
  static std::string holder_ref(pid_t pid) {
    return "pid " + std::to_string(pid) + " (reap-holder)";
  }
  static std::string me() { return std::to_string(act_uid()); }
  std::string dir_;
};

TEST_F(ShmSweep, UnheldSegmentIsUnlinkedAndHeldByFdIsKept) {
  make("free");
  make("held_fd");
  pid_t h = spawn_holder({"fd:" + seg("held_fd")});
  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm free: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm held_fd: kept: open by " + holder_ref(h))) << r.out;
  auto summary = lines_with_prefix(r.out, "summary: ");
  ASSERT_EQ(summary.size(), 1u) << r.out;
  EXPECT_NE(summary[0].find("shm 1 unlinked, 1 kept, 0 errors"), std::string::npos) << summary[0];
  EXPECT_EQ(summary[0], r.out_lines().back()) << "summary must be the last line";
  EXPECT_FALSE(exists_nofollow(seg("free")));
  EXPECT_TRUE(exists_nofollow(seg("held_fd")));
  EXPECT_TRUE(running(h));
}

TEST_F(ShmSweep, HeldOnlyByMmapIsKept) {
  expect_mapping_keeps_segment({});
}

// The same through the text of /proc/PID/maps, the path taken on kernels without the
// PROCMAP_QUERY ioctl (before 6.11).
TEST_F(ShmSweep, HeldOnlyByMmapIsKeptWhenMapsIsReadAsText) {
  expect_mapping_keeps_segment({"--maps-text"});
}

TEST_F(ShmSweep, HeldThroughHardLinkInAnotherDirIsKept) {
  make("by_link_fd");
  make("by_link_map");
  std::string other = shm_dir();
  ASSERT_EQ(::link(seg("by_link_fd").c_str(), (other + "/alias_fd").c_str()), 0);
  ASSERT_EQ(::link(seg("by_link_map").c_str(), (other + "/alias map").c_str()), 0);
  pid_t h = spawn_holder({"fd:" + other + "/alias_fd", "mmap:" + other + "/alias map"});
  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm by_link_fd: kept: open by " + holder_ref(h))) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm by_link_map: kept: mapped by " + holder_ref(h))) << r.out;
  EXPECT_TRUE(exists_nofollow(seg("by_link_fd")));
  EXPECT_TRUE(exists_nofollow(seg("by_link_map")));
}

TEST_F(ShmSweep, HeldThroughBindMountInAnotherMountNamespaceIsKept) {
  make("bound");
  std::string other = shm_dir();
  // The holder runs in a private mount namespace where `other` is a bind mount of the sweep
  // dir; its /proc paths name `other`, which does not even hold the file in our namespace.
  std::string script = "mount --bind \"$1\" \"$2\" && exec $4 \"$3\" --ready-fd 3 fd:\"$2\"/bound";
  Spawned& s = spawn({"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                      dir_, other, holder_bin(), setpriv_words(reap_uid())},
                     1);
  ASSERT_EQ(s.nodes.size(), 1u);
  pid_t h = s.nodes[0];
  ASSERT_EQ(h, s.pid) << "unshare and sh exec, so the holder keeps the pid";
  ASSERT_FALSE(exists_nofollow(other + "/bound")) << "bind mount leaked into our namespace";
  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm bound: kept: open by " + holder_ref(h))) << r.out;
  EXPECT_TRUE(exists_nofollow(seg("bound")));
}

// Inode of path and whether any /proc/PID/<sub>/fd entry refers to it.
bool fd_dir_refers_to(const std::string& fd_dir, const struct stat& target) {
  DIR* d = ::opendir(fd_dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    struct stat st {};
    if (::stat((fd_dir + "/" + e->d_name).c_str(), &st) == 0 && st.st_dev == target.st_dev &&
        st.st_ino == target.st_ino)
      found = true;
  }
  ::closedir(d);
  return found;
}

TEST_F(ShmSweep, HeldOnlyByThreadWithPrivateFdTableIsKept) {
  make("thread_held");
  pid_t h = spawn_holder({"thread:" + seg("thread_held")});
  // Check the helper: the process-level fd table does not refer to the file, but one of
  // its tasks' (the thread that unshared) does.
  struct stat target {};
  ASSERT_EQ(::stat(seg("thread_held").c_str(), &target), 0);
  std::string proc = "/proc/" + std::to_string(h);
  ASSERT_FALSE(fd_dir_refers_to(proc + "/fd", target));
  bool in_task = false;
  for (const auto& t : std::filesystem::directory_iterator(proc + "/task"))
    in_task = in_task || fd_dir_refers_to(t.path().string() + "/fd", target);
  ASSERT_TRUE(in_task);

  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm thread_held: kept: open by " + holder_ref(h))) << r.out;
  EXPECT_TRUE(exists_nofollow(seg("thread_held")));
}

TEST_F(ShmSweep, AwkwardNamesAreEscapedOneLineEach) {
  make("with space");
  make("new\nline");
  make("tab\there");
  make("back\\slash");
  make("\xff\xfe bin");
  make("caf\xc3\xa9");
  make("x (deleted)");  // unheld, but /proc shows "<dir>/x (deleted)" for the held file below
  make("x");
  make("y (deleted)");  // held under its literal name
  pid_t h = spawn_holder({"fd:" + seg("x"), "fd:" + seg("y (deleted)")});
  ASSERT_EQ(::unlink(seg("x").c_str()), 0);  // held, deleted: /proc says "x (deleted)"

  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm with space: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm new\\nline: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm tab\\there: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm back\\\\slash: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm \\xff\\xfe bin: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm caf\xc3\xa9: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm x (deleted): unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm y (deleted): kept: open by " + holder_ref(h))) << r.out;
  // x, unlinked while the holder has it open, is reported as memory still held.
  EXPECT_TRUE(has_line(r.out, "unlinked but open (shm): pid " + std::to_string(h) +
                                  " (reap-holder) holds 4096 bytes until it exits"))
      << r.out;
  // One line per item: 8 items, the unlinked-but-held file and the summary, nothing else.
  EXPECT_EQ(r.out_lines().size(), 10u) << r.out;
  for (const char* gone : {"with space", "new\nline", "tab\there", "back\\slash", "\xff\xfe bin",
                           "caf\xc3\xa9", "x (deleted)"})
    EXPECT_FALSE(exists_nofollow(seg(gone))) << gone;
  EXPECT_TRUE(exists_nofollow(seg("y (deleted)")));
}

TEST_F(ShmSweep, SymlinksSubdirectoriesAndFifosAreNeitherFollowedNorRemoved) {
  std::string outside = shm_dir();
  make_file(outside, "target", act_uid(), act_uid());  // unheld, of the --uid: fair game if
                                                       // the sweep wrongly followed the link
  ASSERT_EQ(::symlink((outside + "/target").c_str(), seg("link").c_str()), 0);
  ASSERT_EQ(::symlink("/nonexistent/reap-e2e", seg("dangling").c_str()), 0);
  ASSERT_EQ(::lchown(seg("link").c_str(), act_uid(), act_uid()), 0);
  ASSERT_EQ(::lchown(seg("dangling").c_str(), act_uid(), act_uid()), 0);
  ASSERT_EQ(::mkdir(seg("sub").c_str(), 0700), 0);
  ASSERT_EQ(::chown(seg("sub").c_str(), act_uid(), act_uid()), 0);
  make_file(seg("sub"), "inner", act_uid(), act_uid());
  ASSERT_EQ(::mkfifo(seg("fifo").c_str(), 0600), 0);
  ASSERT_EQ(::chown(seg("fifo").c_str(), act_uid(), act_uid()), 0);
  make("plain");

  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm sub: skipped: not a regular file (directory)")) << r.out;
  EXPECT_EQ(lines_with_prefix(r.out, "shm link: skipped: not a regular file").size(), 1u) << r.out;
  EXPECT_EQ(lines_with_prefix(r.out, "shm dangling: skipped: not a regular file").size(), 1u)
      << r.out;
  EXPECT_EQ(lines_with_prefix(r.out, "shm fifo: skipped: not a regular file").size(), 1u) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm plain: unlinked")) << r.out;
  EXPECT_TRUE(lines_with_prefix(r.out, "shm sub/").empty()) << "must not descend: " << r.out;
  EXPECT_TRUE(lines_with_prefix(r.out, "shm inner").empty()) << "must not descend: " << r.out;

  struct stat st {};
  ASSERT_EQ(::lstat(seg("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::lstat(seg("dangling").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_TRUE(exists_nofollow(outside + "/target"));
  EXPECT_TRUE(exists_nofollow(seg("sub/inner")));
  EXPECT_TRUE(exists_nofollow(seg("fifo")));
  EXPECT_FALSE(exists_nofollow(seg("plain")));
}

TEST_F(ShmSweep, OtherOwnersAreKept) {
  make("mine");
  make("theirs", 65533);
  make("roots", 0);
  RunResult r = sweep();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm mine: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm theirs: kept: owned by uid 65533, not " + me())) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm roots: kept: owned by uid 0, not " + me())) << r.out;
  EXPECT_FALSE(exists_nofollow(seg("mine")));
  EXPECT_TRUE(exists_nofollow(seg("theirs")));
  EXPECT_TRUE(exists_nofollow(seg("roots")));
}

TEST_F(ShmSweep, UidByName) {
  if (unprivileged()) GTEST_SKIP() << "names a user: the unprivileged test uid has no passwd entry";
  make("mine");
  make("theirs", 65533);
  RunResult r = run_reap({"--shm-only", "--shm-dir", dir_, "--uid", "nobody"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm mine: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm theirs: kept: owned by uid 65533, not 65534")) << r.out;
  EXPECT_FALSE(exists_nofollow(seg("mine")));
  EXPECT_TRUE(exists_nofollow(seg("theirs")));
}

// Seconds since path's last change as reap sees it (the later of mtime and ctime).
double age_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return -1;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto secs = [](const struct timespec& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
  };
  return secs(now) - std::max(secs(st.st_mtim), secs(st.st_ctim));
}

// "new" is made just before the run and has the whole --min-age (2 s) for reap to start and
// list the dir: a margin that holds on a loaded machine under sanitizers. "old" is waited on
// until its own timestamps say it is older than that, so no fixed sleep decides the outcome.
TEST_F(ShmSweep, MinAgeKeepsRecentlyChangedSegments) {
  make("old");
  for (double age; (age = age_of(seg("old"))) < 2.2;) {
    ASSERT_GE(age, 0.0) << "lstat " << seg("old");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  make("new");
  RunResult r = sweep({"--min-age", "2s"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm old: unlinked")) << r.out;
  auto kept = lines_with_prefix(r.out, "shm new: kept: changed ");
  ASSERT_EQ(kept.size(), 1u) << r.out;
  EXPECT_NE(kept[0].find(" s ago, younger than --min-age 2.0 s"), std::string::npos) << kept[0];
  EXPECT_FALSE(exists_nofollow(seg("old")));
  EXPECT_TRUE(exists_nofollow(seg("new")));
}

TEST_F(ShmSweep, MinAgeUnits) {
  make("seg");
  for (const char* age : {"30s", "5m", "1h"}) {
    RunResult r = sweep({"--min-age", age});
    EXPECT_EQ(r.exit_code, 0) << age;
    EXPECT_EQ(lines_with_prefix(r.out, "shm seg: kept: changed ").size(), 1u) << age << r.out;
  }
  RunResult r = sweep({"--min-age", "1h"});
  EXPECT_NE(r.out.find("younger than --min-age 3600.0 s"), std::string::npos) << r.out;
  EXPECT_TRUE(exists_nofollow(seg("seg")));
}

TEST_F(ShmSweep, DryRunActsOnNothing) {
  make("free");
  make("held");
  pid_t h = spawn_holder({"fd:" + seg("held")});
  RunResult r = sweep({"-n"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm free: would unlink")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm held: kept: open by " + holder_ref(h))) << r.out;
  EXPECT_TRUE(lines_with_prefix(r.out, "shm free: unlinked").empty());
  EXPECT_TRUE(exists_nofollow(seg("free")));
  EXPECT_TRUE(exists_nofollow(seg("held")));

  // And the long option.
  RunResult r2 = sweep({"--dry-run"});
  EXPECT_TRUE(has_line(r2.out, "shm free: would unlink")) << r2.out;
  EXPECT_TRUE(exists_nofollow(seg("free")));
}

// ---- uninspectable holders (fail closed) ---------------------------------------------------

// A non-dumpable process of the sweeping uid holds one segment; it could open every segment
// of that uid, so all are kept and the report names it. The uid is the per-process test uid
// (in both passes), so no other process of it elsewhere on the machine can be named instead.
TEST_F(ShmSweep, NonDumpableSameUidHolderBlocksAsUnverifiable) {
  const uid_t uid = test_uid();
  const std::string u = std::to_string(uid);
  ASSERT_EQ(::chown(dir_.c_str(), uid, uid), 0);
  make("held", uid);
  make("other", uid);
  pid_t h = spawn_holder({"--drop", u + ":" + u, "--nondumpable", "fd:" + seg("held")});
  ASSERT_EQ(proc_uid(h), uid);
  RunOptions as_sweeper;
  as_sweeper.as_uid = uid;
  std::string why = unverifiable_by(h);

  RunResult r = run_reap({"--shm-only", "--shm-dir", dir_}, as_sweeper);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line_like(r.out, "shm held: " + why, ")")) << r.out;
  EXPECT_TRUE(has_line_like(r.out, "shm other: " + why, ")")) << r.out;
  EXPECT_TRUE(
      has_line_like(r.out, "uninspectable " + holder_ref(h) + " uid " + u + ": permission denied"))
      << r.out;
  EXPECT_TRUE(exists_nofollow(seg("held")));
  EXPECT_TRUE(exists_nofollow(seg("other")));

  // The one explicit override.
  RunResult o = run_reap({"--shm-only", "--shm-dir", dir_, "--ignore-uninspectable"}, as_sweeper);
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_TRUE(has_line(o.out, "shm held: unlinked")) << o.out;
  EXPECT_TRUE(has_line(o.out, "shm other: unlinked")) << o.out;
  EXPECT_FALSE(exists_nofollow(seg("held")));
  EXPECT_FALSE(exists_nofollow(seg("other")));
}

// A process of another uid that the sweeping uid cannot inspect blocks the segments its
// groups can open, not the private (0600) ones.
TEST_F(ShmSweep, OtherUidHolderBlocksGroupAccessibleSegments) {
  const uid_t kSweeper = spare_uid(1);
  const uid_t kOther = spare_uid(2);
  const std::string other = std::to_string(kOther);
  ASSERT_EQ(::chown(dir_.c_str(), kSweeper, kSweeper), 0);
  make_file(dir_, "grp_held", kSweeper, kOther, 0640);
  make_file(dir_, "grp_free", kSweeper, kOther, 0640);
  make_file(dir_, "private", kSweeper, kSweeper, 0600);
  pid_t h = spawn_holder({"--drop", other + ":" + other, "fd:" + seg("grp_held")});
  ASSERT_EQ(proc_uid(h), kOther);
  RunOptions as_sweeper;
  as_sweeper.as_uid = kSweeper;
  std::string why = unverifiable_by(h);

  RunResult r = run_reap({"--shm-only", "--shm-dir", dir_}, as_sweeper);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line_like(r.out, "shm grp_held: " + why, ")")) << r.out;
  EXPECT_TRUE(has_line_like(r.out, "shm grp_free: " + why, ")")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm private: unlinked")) << r.out;
  EXPECT_TRUE(has_line_like(
      r.out, "uninspectable " + holder_ref(h) + " uid " + other + ": permission denied"))
      << r.out;
  EXPECT_TRUE(exists_nofollow(seg("grp_held")));
  EXPECT_TRUE(exists_nofollow(seg("grp_free")));
  EXPECT_FALSE(exists_nofollow(seg("private")));
}

// Root processes cannot be inspected by an unprivileged sweep; root can open anything, and
// by the rule they block other-accessible segments (here one is even held by a root process
// the test started).
TEST_F(ShmSweep, UninspectableRootProcessesBlockOtherAccessibleSegments) {
  const uid_t kSweeper = spare_uid(1);
  ASSERT_EQ(::chown(dir_.c_str(), kSweeper, kSweeper), 0);
  make_file(dir_, "shared_held", kSweeper, kSweeper, 0644);
  make_file(dir_, "shared_free", kSweeper, kSweeper, 0604);
  make_file(dir_, "private", kSweeper, kSweeper, 0600);
  pid_t h = spawn_holder_as(0, {"fd:" + seg("shared_held")});
  ASSERT_EQ(proc_uid(h), 0u);
  RunOptions as_sweeper;
  as_sweeper.as_uid = kSweeper;

  RunResult r = run_reap({"--shm-only", "--shm-dir", dir_}, as_sweeper);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "shm private: unlinked")) << r.out;
  for (const char* name : {"shared_held", "shared_free"}) {
    auto kept = lines_with_prefix(r.out, std::string("shm ") + name + ": kept: unverifiable: pid ");
    ASSERT_EQ(kept.size(), 1u) << name << "\n" << r.out;
    // "... pid N (comm) could not be inspected (permission denied)", N a root process.
    pid_t n = static_cast<pid_t>(std::stol(kept[0].substr(kept[0].find(": pid ") + 6)));
    EXPECT_EQ(proc_uid(n), 0u) << kept[0];
    EXPECT_NE(kept[0].find(") could not be inspected (permission denied"), std::string::npos)
        << kept[0];
    EXPECT_EQ(lines_with_prefix(r.out, "uninspectable pid " + std::to_string(n) + " (").size(), 1u)
        << r.out;
    EXPECT_TRUE(exists_nofollow(seg(name)));
  }
  EXPECT_FALSE(exists_nofollow(seg("private")));
}

// Sweeping root's own segments as root: PID 1 of these machines cannot be inspected even by
// root, so a root-owned segment is kept and the reason names PID 1.
TEST_F(ShmSweep, RootOwnedSegmentKeptBecausePid1IsUninspectable) {
  if (unprivileged()) GTEST_SKIP() << "about a root reap sweeping root-owned segments";
  {
    std::ifstream probe("/proc/1/maps");
    std::string line;
    if (probe && std::getline(probe, line))
      GTEST_SKIP() << "PID 1 can be inspected on this machine; the case does not arise";
  }
  make("rootseg", 0);
  std::string comm1 = proc_comm(1);
  RunResult r = run_reap({"--shm-only", "--shm-dir", dir_});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line_like(r.out,
                            "shm rootseg: kept: unverifiable: pid 1 (" + comm1 +
                                ") could not be inspected (permission denied",
                            ")"))
      << r.out;
  EXPECT_TRUE(has_line_like(r.out, "uninspectable pid 1 (" + comm1 + ") uid 0: permission denied"))
      << r.out;
  EXPECT_TRUE(exists_nofollow(seg("rootseg")));

  RunResult o = run_reap({"--shm-only", "--shm-dir", dir_, "--ignore-uninspectable"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_TRUE(has_line(o.out, "shm rootseg: unlinked")) << o.out;
  EXPECT_FALSE(exists_nofollow(seg("rootseg")));
}

}  // namespace
}  // namespace reap_e2e

namespace reap_e2e {
namespace {

// When reap runs out of file descriptors mid-scan, the processes it could not read might
// hold anything: every segment stays (fail closed), none is reported as unheld.
TEST_F(ShmSweep, OutOfFileDescriptorsFailsClosed) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer runtime in reap needs descriptors of its own (it misreports under 6).
  GTEST_SKIP() << "runs in the build without sanitizers";
#endif
  make("mapped");
  make("free");
  spawn_holder({"mmap:" + seg("mapped")});
  RunResult r = run_command(
      {"prlimit", "--nofile=6:6", reap_bin(), "--shm-only", "--shm-dir", dir_, "--uid", me()},
      as_reap_user());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_line_like(r.out, "shm free: kept: unverifiable: ", "Too many open files)"))
      << r.out;
  EXPECT_TRUE(has_line_like(r.out, "shm mapped: kept: ")) << r.out;
  EXPECT_TRUE(has_line_like(r.err, "reap: warning: ", "raise the limit (ulimit -n)")) << r.err;
  EXPECT_TRUE(exists_nofollow(seg("mapped")));
  EXPECT_TRUE(exists_nofollow(seg("free")));
}

}  // namespace
}  // namespace reap_e2e
