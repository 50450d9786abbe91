// os::ShmDir against a real private tmpfs directory (never the real /dev/shm itself).
#include "os/shm_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "private_dir.hpp"

namespace reap::os {
namespace {

class ShmDirTest : public InPrivateShmDir<> {
 protected:
  void make(const std::string& name) {
    int fd = ::open((dir_ + "/" + name).c_str(), O_CREAT | O_WRONLY | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  DevIno id_of(const std::string& name) {
    struct stat st;
    EXPECT_EQ(::lstat((dir_ + "/" + name).c_str(), &st), 0);
    return DevIno::of(st);
  }
};

TEST_F(ShmDirTest, ListsEveryEntrySortedWithoutFollowingSymlinks) {
  make("b");
  make("a");
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/link").c_str()), 0);
  ShmDir dir;
  std::string error;
  ASSERT_TRUE(dir.open(dir_, error)) << error;
  auto entries = dir.list();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[1].name, "b");
  EXPECT_TRUE(S_ISLNK(entries[2].st.st_mode));
}

TEST_F(ShmDirTest, ListsALargeDirectoryCompletelyAndAgain) {
  // More names than one 64 KiB getdents64 buffer holds, some longer than a short string.
  std::vector<std::string> names;
  for (int i = 0; i < 3000; ++i)
    names.push_back((i % 2 ? "s" : "a-rather-long-segment-name-") + std::to_string(i));
  // Names that agree in their first 8 bytes, end there, or hold bytes above 0x7f.
  for (const char* n : {"psm_h12", "psm_h123", "psm_h1234", "psm_h12345678", "psm_h12345679",
                        "\xff\xfe", "\xff", "z\x80x", "z", "zz"})
    names.push_back(n);
  for (const auto& n : names) make(n);
  std::sort(names.begin(), names.end());
  ShmDir dir;
  std::string error;
  ASSERT_TRUE(dir.open(dir_, error)) << error;
  for (int pass = 0; pass < 2; ++pass) {  // a second listing starts from the beginning again
    auto entries = dir.list(pass + 1);
    ASSERT_EQ(entries.size(), names.size()) << "pass " << pass;
    for (std::size_t i = 0; i < names.size(); ++i) {
      ASSERT_EQ(entries[i].name, names[i]);
      EXPECT_EQ(entries[i].stat_errno, 0);
      EXPECT_TRUE(S_ISREG(entries[i].st.st_mode));
      EXPECT_EQ(identity(entries[i].st), id_of(names[i]));
    }
  }
}

TEST_F(ShmDirTest, ListsNamesAloneAcrossBlocksAndLetsTheFirstBlocksGo) {
  std::vector<std::string> names;
  const std::size_t n = NameList::kBlock + 1000;
  for (std::size_t i = 0; i < n; ++i)
    names.push_back((i % 3 ? "psm_" : "a-longer-name-than-sso-holds-") + std::to_string(i));
  for (const auto& name : names) make(name);
  std::sort(names.begin(), names.end());
  ShmDir dir;
  std::string error;
  ASSERT_TRUE(dir.open(dir_, error)) << error;
  NameList list = dir.list_names();
  ASSERT_EQ(list.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(list[i], names[i]) << i;
    ASSERT_STREQ(list.c_str(i), names[i].c_str());
  }
  list.release_before(NameList::kBlock + 10);  // the first block only: the second is in use
  for (std::size_t i = NameList::kBlock; i < n; ++i) ASSERT_EQ(list[i], names[i]) << i;
  // lstat_all of the names is list().
  auto entries = dir.lstat_all(dir.list_names());
  ASSERT_EQ(entries.size(), n);
  EXPECT_EQ(entries.back().name, names.back());
  EXPECT_EQ(identity(entries.back().st), id_of(names.back()));
}

TEST_F(ShmDirTest, StatAtAndUnlinkJudgedWorkRelativeToTheDirectory) {
  make("x");
  ShmDir dir;
  std::string error;
  ASSERT_TRUE(dir.open(dir_, error)) << error;
  FileStat st;
  ASSERT_EQ(dir.stat_at("x", st), 0);
  EXPECT_EQ(identity(st), id_of("x"));
  EXPECT_EQ(dir.stat_at("missing", st), ENOENT);
  EXPECT_EQ(dir.unlink_judged("x").result, UnlinkResult::Unlinked);
  EXPECT_EQ(dir.unlink_judged("x").result, UnlinkResult::AlreadyGone);
  ASSERT_EQ(::mkdir((dir_ + "/d").c_str(), 0700), 0);
  auto failed = dir.unlink_judged("d");  // unlinkat without AT_REMOVEDIR: EISDIR
  EXPECT_EQ(failed.result, UnlinkResult::Failed);
  EXPECT_NE(failed.err, 0);
  ::rmdir((dir_ + "/d").c_str());
}

TEST_F(ShmDirTest, UnlinksOnlyTheSameFileAndCountsAVanishedOneAsDone) {
  make("same");
  make("replaced");
  make("gone");
  ShmDir dir;
  std::string error;
  ASSERT_TRUE(dir.open(dir_, error)) << error;
  DevIno same = id_of("same"), replaced = id_of("replaced"), gone = id_of("gone");
  // Between scan and act: one name now names another file, one was removed by its owner.
  ASSERT_EQ(::unlink((dir_ + "/replaced").c_str()), 0);
  make("keepalive");  // holds a new inode number so "replaced" cannot get the old one back
  make("replaced");
  ASSERT_EQ(::unlink((dir_ + "/gone").c_str()), 0);

  EXPECT_EQ(dir.unlink_if_same("same", same).result, UnlinkResult::Unlinked);
  EXPECT_EQ(dir.unlink_if_same("replaced", replaced).result, UnlinkResult::Replaced);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/replaced"));
  EXPECT_EQ(dir.unlink_if_same("gone", gone).result, UnlinkResult::AlreadyGone);
}

TEST_F(ShmDirTest, RefusesASymlinkedDirectoryNamingItsTarget) {
  std::string link = dir_ + "/dirlink";
  ASSERT_EQ(::symlink(dir_.c_str(), link.c_str()), 0);
  ShmDir dir;
  std::string error;
  EXPECT_FALSE(dir.open(link, error));
  EXPECT_NE(error.find("is a symlink to " + dir_), std::string::npos) << error;
}

}  // namespace
}  // namespace reap::os
