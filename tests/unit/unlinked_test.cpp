// Files unlinked while still open or mapped, found by the scan on the devices asked about,
// against a real file in a private tmpfs directory (never the real /dev/shm itself).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "private_dir.hpp"

#include "os/proc_scan.hpp"
#include "os/unlinked.hpp"

namespace reap::os {
namespace {

TEST(Unlinked, DeletedMappingLines) {
  std::string text =
      "7f0000000000-7f0000002000 rw-s 00000000 00:1a 42                         /dev/shm/a "
      "(deleted)\n"
      "7f0000002000-7f0000003000 rw-s 00000000 00:1a 43                         /dev/shm/b\n"
      "7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n";
  std::vector<DeletedMapping> seen;
  for_each_deleted_mapping(text, [&](const DeletedMapping& m) { seen.push_back(m); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].ino, 42u);
  EXPECT_EQ(seen[0].dev, makedev(0, 0x1a));
  EXPECT_EQ(seen[0].end - seen[0].start, 0x2000u);
}

class UnlinkedScan : public InPrivateShmDir<::testing::TestWithParam<bool>> {
 protected:
};

TEST_P(UnlinkedScan, FindsOwnUnlinkedFileHeldByFdOrByMapping) {
  bool by_fd = GetParam();
  std::string path = dir_ + "/gone";
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 3 * 4096), 0);
  void* m = ::mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  if (!by_fd) ::close(fd);
  for (bool query : {true, false}) {  // PROCMAP_QUERY where the kernel has it, and maps text
    ScanOptions o;
    o.process_details = false;
    o.maps_query = query;
    o.unlinked_devs.insert(st.st_dev);
    Snapshot snap = scan_proc(o);
    const UnlinkedHolding* mine = nullptr;
    for (const auto& u : snap.unlinked)
      if (u.pid == ::getpid() && u.id == DevIno::of(st)) mine = &u;
    ASSERT_NE(mine, nullptr) << "query " << query;
    EXPECT_EQ(mine->kind, by_fd ? HoldKind::Fd : HoldKind::Mmap);
    EXPECT_EQ(mine->size, 3 * 4096);
  }
  ::munmap(m, 3 * 4096);
  if (by_fd) ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(FdOrMapping, UnlinkedScan, ::testing::Bool());

}  // namespace
}  // namespace reap::os
