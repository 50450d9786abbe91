#include "os/proc_parse.hpp"

#include <sys/sysmacros.h>

#include <gtest/gtest.h>

namespace reap::os {
namespace {

constexpr const char* kStat =
    "4242 (python3) S 1 4240 4240 0 -1 4194560 1234 0 0 0 10 5 0 0 20 0 3 0 987654 "
    "123456789 2345 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 1 0 0 0 0 0\n";

TEST(ParseStat, ReadsTheFieldsReapUses) {
  auto st = parse_stat(kStat);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->comm, "python3");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->pgrp, 4240);
  EXPECT_EQ(st->session, 4240);
  EXPECT_EQ(st->flags, 4194560u);
  EXPECT_EQ(st->num_threads, 3);
  EXPECT_EQ(st->starttime, 987654ull);
}

TEST(ParseStat, CommWithSpacesAndParenthesesEndsAtTheLastParen) {
  std::string text = kStat;
  text.replace(text.find("(python3)"), 9, "(a) (b) c)");
  auto st = parse_stat(text);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->comm, "a) (b) c");
  EXPECT_EQ(st->ppid, 1);
  EXPECT_EQ(st->starttime, 987654ull);
}

TEST(ParseStat, RejectsTruncatedOrGarbage) {
  EXPECT_FALSE(parse_stat(""));
  EXPECT_FALSE(parse_stat("12 (x"));
  EXPECT_FALSE(parse_stat("12 (x) S 1 2 3"));
  EXPECT_FALSE(parse_stat("abc (x) S 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"));
  std::string text = kStat;
  text.resize(text.find("987654"));
  EXPECT_FALSE(parse_stat(text));
}

TEST(ParseStatus, ReadsIdsGroupsAndSignals) {
  auto st = parse_status(
      "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1001\t1002\t1003\n"
      "Gid:\t100\t101\t102\t103\nGroups:\t4 24 27 \nThreads:\t5\n"
      "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000002\n");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->uids, (std::array<uid_t, 4>{1000, 1001, 1002, 1003}));
  EXPECT_EQ(st->gids, (std::array<gid_t, 4>{100, 101, 102, 103}));
  EXPECT_EQ(st->groups, (std::vector<gid_t>{4, 24, 27}));
  EXPECT_EQ(st->threads, 5);
  EXPECT_EQ(st->sig_ign, 2u);  // bit (SIGINT - 1)
}

TEST(ParseStatus, EmptyGroupsAndMissingUidLine) {
  auto st = parse_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n");
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->groups.empty());
  EXPECT_FALSE(parse_status("Gid:\t0\t0\t0\t0\n"));
  EXPECT_FALSE(parse_status("Uid:\t0\t0\nGid:\t0\t0\t0\t0\n"));
}

TEST(ParseMaps, FileBackedLineGivesDevAndInode) {
  auto ref = parse_maps_line(
      "7f1c2a000000-7f1c2a001000 rw-s 00000000 00:1a 123456                     "
      "/dev/shm/psm_abc (deleted)");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->dev, makedev(0, 0x1a));
  EXPECT_EQ(ref->ino, 123456u);
  auto hex = parse_maps_line("00400000-00452000 r-xp 00000000 fd:1f 99 /usr/bin/x");
  ASSERT_TRUE(hex);
  EXPECT_EQ(hex->dev, makedev(0xfd, 0x1f));
}

TEST(ParseMaps, AnonymousAndMalformedLinesGiveNothing) {
  EXPECT_FALSE(parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0          [stack]"));
  EXPECT_FALSE(parse_maps_line("7ffd1000-7ffd2000 rw-p 00000000 00:00 0"));
  EXPECT_FALSE(parse_maps_line(""));
  EXPECT_FALSE(parse_maps_line("garbage"));
  EXPECT_FALSE(parse_maps_line("a-b rw-p 0 zz:1 5 /x"));
}

TEST(ParseMaps, WholeTextReportsEachFileOnceInARun) {
  std::string text =
      "1000-2000 r--p 00000000 08:01 77 /lib/a.so\n"
      "2000-3000 r-xp 00001000 08:01 77 /lib/a.so\n"
      "3000-4000 rw-p 00000000 00:00 0\n"
      "4000-5000 rw-s 00000000 00:1a 9 /dev/shm/x\n";
  std::vector<MapsFileRef> refs;
  for_each_maps_file(text, [&](const MapsFileRef& r) { refs.push_back(r); });
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].ino, 77u);
  EXPECT_EQ(refs[1].ino, 9u);
}

TEST(SplitCmdline, NulSeparatedWithOrWithoutTerminator) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_cmdline(std::string_view("python3\0-c\0x\0", 13)), (V{"python3", "-c", "x"}));
  EXPECT_EQ(split_cmdline(std::string_view("a\0\0b", 4)), (V{"a", "", "b"}));
  EXPECT_EQ(split_cmdline("rewritten title with spaces"), (V{"rewritten title with spaces"}));
  EXPECT_TRUE(split_cmdline("").empty());
}

TEST(ParseFdLink, Kinds) {
  auto s = parse_fd_link("socket:[12345]");
  EXPECT_EQ(s.kind, FdLink::Kind::Socket);
  EXPECT_EQ(s.inode, 12345u);
  EXPECT_EQ(parse_fd_link("pipe:[7]").kind, FdLink::Kind::Pipe);
  EXPECT_EQ(parse_fd_link("anon_inode:[eventfd]").kind, FdLink::Kind::AnonInode);
  auto d = parse_fd_link("/dev/shm/a b (deleted)");
  EXPECT_EQ(d.kind, FdLink::Kind::Path);
  EXPECT_TRUE(d.deleted);
  EXPECT_EQ(d.path, "/dev/shm/a b");
  EXPECT_EQ(parse_fd_link("socket:[x]").kind, FdLink::Kind::Other);
  EXPECT_EQ(parse_fd_link("").kind, FdLink::Kind::Other);
}

TEST(ParsePid, OnlyPositiveDecimal) {
  EXPECT_EQ(parse_pid("1"), 1);
  EXPECT_EQ(parse_pid("4194304"), 4194304);
  EXPECT_FALSE(parse_pid("self"));
  EXPECT_FALSE(parse_pid("0"));
  EXPECT_FALSE(parse_pid("012"));
  EXPECT_FALSE(parse_pid("12a"));
  EXPECT_FALSE(parse_pid("99999999999999"));
  EXPECT_FALSE(parse_pid(""));
}

}  // namespace
}  // namespace reap::os

namespace reap::os {
namespace {

TEST(ParseStat, LineEndingRightAfterStarttime) {
  auto st = parse_stat("42 (cat) S 1 42 42 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 77\n");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->starttime, 77u);
}

}  // namespace
}  // namespace reap::os
