// ScanOptions::watch_all_on: the holder index records every file a process holds on a
// device, without a set of identities to look for, against real files in a private tmpfs
// directory (never the real /dev/shm itself).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "private_dir.hpp"

#include "os/proc_scan.hpp"

namespace reap::os {
namespace {

class WatchAllOn : public InPrivateShmDir<::testing::TestWithParam<bool>> {
 protected:
  /// A 2-page file in the private dir, open read-write; its identity in `st`.
  int make(const std::string& name, struct stat& st) {
    int fd = ::open((dir_ + "/" + name).c_str(), O_CREAT | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, 2 * 4096), 0);
    EXPECT_EQ(::fstat(fd, &st), 0);
    return fd;
  }
  static bool held_by_me(const Snapshot& snap, const struct stat& st, HoldKind kind) {
    const auto* hs = snap.holders_of(DevIno::of(st));
    if (!hs) return false;
    for (const auto& h : *hs)
      if (h.pid == ::getpid() && h.kind == kind) return true;
    return false;
  }
  static const UnlinkedHolding* unlinked_of_mine(const Snapshot& snap, const struct stat& st) {
    for (const auto& u : snap.unlinked)
      if (u.pid == ::getpid() && u.id == DevIno::of(st)) return &u;
    return nullptr;
  }
};

TEST_P(WatchAllOn, RecordsWhatIsHeldOnTheDeviceAndNothingElse) {
  struct stat open_st, mapped_st, unheld_st;
  int open_fd = make("open", open_st);
  int map_fd = make("mapped", mapped_st);
  void* m = ::mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  ::close(map_fd);
  ::close(make("unheld", unheld_st));

  ScanOptions o;
  o.process_details = false;
  o.maps_query = GetParam();  // PROCMAP_QUERY where the kernel has it, or the maps text
  o.watch_all_on.insert(open_st.st_dev);
  o.unlinked_devs.insert(open_st.st_dev);
  ASSERT_TRUE(o.watching());
  Snapshot snap = scan_proc(o);
  EXPECT_TRUE(held_by_me(snap, open_st, HoldKind::Fd));
  EXPECT_TRUE(held_by_me(snap, mapped_st, HoldKind::Mmap));
  EXPECT_EQ(snap.holders_of(DevIno::of(unheld_st)), nullptr);
  // Files that still have their names are not reported as unlinked.
  EXPECT_EQ(unlinked_of_mine(snap, open_st), nullptr);
  EXPECT_EQ(unlinked_of_mine(snap, mapped_st), nullptr);
  // Only that device: nothing this process holds elsewhere (its executable, libc) is there.
  for (const auto& [id, list] : snap.holders) EXPECT_EQ(id.dev, open_st.st_dev);
  ::munmap(m, 2 * 4096);
  ::close(open_fd);
}

TEST_P(WatchAllOn, ReportsFilesUnlinkedWhileOpenOrMapped) {
  struct stat open_st, mapped_st;
  int open_fd = make("open", open_st);
  int map_fd = make("mapped", mapped_st);
  void* m = ::mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  ::close(map_fd);
  ASSERT_EQ(::unlink((dir_ + "/open").c_str()), 0);
  ASSERT_EQ(::unlink((dir_ + "/mapped").c_str()), 0);

  ScanOptions o;
  o.process_details = false;
  o.maps_query = GetParam();
  o.watch_all_on.insert(open_st.st_dev);
  o.unlinked_devs.insert(open_st.st_dev);
  Snapshot snap = scan_proc(o);
  const UnlinkedHolding* by_fd = unlinked_of_mine(snap, open_st);
  ASSERT_NE(by_fd, nullptr);
  EXPECT_EQ(by_fd->kind, HoldKind::Fd);
  EXPECT_EQ(by_fd->size, 2 * 4096);
  const UnlinkedHolding* by_map = unlinked_of_mine(snap, mapped_st);
  ASSERT_NE(by_map, nullptr);
  EXPECT_EQ(by_map->kind, HoldKind::Mmap);
  EXPECT_EQ(by_map->size, 2 * 4096);
  ::munmap(m, 2 * 4096);
  ::close(open_fd);
}

TEST(WatchAllOnOptions, NotWatchingBuildsNoHolderIndex) {
  ScanOptions none;
  none.process_details = false;
  EXPECT_FALSE(none.watching());
  Snapshot snap = scan_proc(none);
  EXPECT_TRUE(snap.holders.empty());
}

INSTANTIATE_TEST_SUITE_P(QueryOrText, WatchAllOn, ::testing::Bool());

}  // namespace
}  // namespace reap::os
