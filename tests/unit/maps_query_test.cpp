// os::query_file_mappings (PROCMAP_QUERY) against the text of /proc/self/maps: both must
// name the same file identities, including a mapping of a private tmpfs file.
#include "os/maps_query.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "util/fd.hpp"

namespace reap::os {
namespace {

using Ids = std::set<std::pair<dev_t, ino_t>>;

TEST(MapsQuery, NamesTheSameFilesAsTheText) {
  char tmpl[] = "/dev/shm/reap-test.XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::unlink(tmpl);
  ASSERT_EQ(::ftruncate(fd, 8192), 0);
  void* map = ::mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  ::close(fd);

  util::UniqueFd maps(::open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(maps.valid());
  Ids by_ioctl;
  int err = query_file_mappings(maps.get(), [&](const MapsFileRef& r) {
    by_ioctl.insert({r.dev, r.ino});
  });
  if (err == ENOTTY || err == EINVAL) GTEST_SKIP() << "kernel without PROCMAP_QUERY";
  ASSERT_EQ(err, 0);
  std::string text;
  ASSERT_EQ(util::read_file_at(AT_FDCWD, "/proc/self/maps", text), 0);
  Ids by_text;
  for_each_maps_file(text, [&](const MapsFileRef& r) { by_text.insert({r.dev, r.ino}); });

  EXPECT_EQ(by_ioctl, by_text);
  EXPECT_TRUE(by_ioctl.count({st.st_dev, st.st_ino})) << "the tmpfs mapping was not reported";
  ::munmap(map, 8192);
}

}  // namespace
}  // namespace reap::os
