// Uninspectable processes (fail closed): reap runs as uid 65534 (setpriv), so it cannot read
// the fd tables and maps of a holder running as uid 65533, nor of a non-dumpable process of
// its own uid. Such a process keeps every segment it could have opened without privilege
// (kept, "unverifiable", naming its pid); --ignore-uninspectable overrides that.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "stress_util.hpp"

namespace reap_stress {
namespace {

constexpr uid_t kUid = 65534;
constexpr uid_t kOther = 65533;

nlohmann::json item_named(const nlohmann::json& j, const std::string& name) {
  for (const auto& item : j["shm"]["items"])
    if (item["name"] == name) return item;
  return nullptr;
}

class Uninspectable : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(dir_.fd(), 0);
    // reap runs as 65534 and must be able to unlink in the directory.
    ASSERT_EQ(::fchown(dir_.fd(), kUid, kUid), 0);
  }
  RunResult sweep(std::vector<std::string> extra) {
    std::vector<std::string> args{"--shm-only", "--shm-dir", dir_.path(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunOptions o;
    o.as_uid = kUid;
    return run_reap(args, o);
  }
  pid_t start_holder(std::vector<std::string> args, uid_t uid, const std::vector<int>& inherit) {
    auto s = spawn(helper_argv("hold", std::move(args)), uid, inherit);
    guard_.track(s.pid);
    auto line = read_line(s.ready, std::chrono::seconds(10));
    ::close(s.ready);
    EXPECT_TRUE(line) << "holder did not start";
    return line ? static_cast<pid_t>(std::stol(line->substr(6))) : -1;
  }
  TempShmDir dir_;
  ChildGuard guard_;
};

TEST_F(Uninspectable, ForeignUidHolderBlocksWhatItCouldOpen) {
  // Private to 65534: a 65533 process could not have opened it itself, so it does not block
  // it, even though it holds it (by an inherited fd; fd passing is outside the rule).
  int held = make_segment(dir_.fd(), "private-held", 0600, kUid, kUid, 4096, true);
  // Group-readable by gid 65533: the 65533 process could open it, so it blocks it.
  make_segment(dir_.fd(), "group-65533", 0640, kUid, kOther);
  pid_t holder = start_holder({}, kOther, {held});
  ::close(held);
  ASSERT_GT(holder, 0);

  auto dry = sweep({"-n"});
  ASSERT_EQ(dry.exit_code, 0) << describe(dry);
  auto j = parse_report(dry);
  ASSERT_FALSE(j.is_null());
  auto group = item_named(j, "group-65533");
  ASSERT_FALSE(group.is_null()) << dry.out;
  EXPECT_EQ(group["verdict"], "kept") << group.dump();
  EXPECT_EQ(group["holder_pid"], holder) << group.dump();
  EXPECT_NE(group["reason"].get<std::string>().find("unverifiable: pid " + std::to_string(holder)),
            std::string::npos)
      << group.dump();
  EXPECT_EQ(item_named(j, "private-held")["verdict"], "would_unlink") << dry.out;
  bool listed = false;
  for (const auto& u : j["uninspectable"])
    if (u["pid"] == holder) listed = u["uid"] == kOther && u["blocked"] == true;
  EXPECT_TRUE(listed) << "the holder is not listed as a blocking uninspectable process\n"
                      << dry.out;

  auto over = sweep({"-n", "--ignore-uninspectable"});
  ASSERT_EQ(over.exit_code, 0) << describe(over);
  auto j2 = parse_report(over);
  ASSERT_FALSE(j2.is_null());
  EXPECT_EQ(item_named(j2, "group-65533")["verdict"], "would_unlink") << over.out;
  EXPECT_NE(over.err.find("--ignore-uninspectable"), std::string::npos) << over.err;
  EXPECT_EQ(dir_.names().size(), 2u) << "a dry run removed something";
}

TEST_F(Uninspectable, NondumpableSameUidProcessBlocksEverySegmentOfThatUid) {
  make_segment(dir_.fd(), "a", 0600, kUid, kUid);
  make_segment(dir_.fd(), "b", 0600, kUid, kUid);
  make_segment(dir_.fd(), "not-ours", 0600, kOther, kOther);
  pid_t holder = start_holder({"--nondumpable", "--open", dir_.at("a")}, kUid, {});
  ASSERT_GT(holder, 0);

  auto r = sweep({});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto j = parse_report(r);
  ASSERT_FALSE(j.is_null());
  for (const char* name : {"a", "b"}) {
    auto item = item_named(j, name);
    EXPECT_EQ(item["verdict"], "kept") << item.dump();
    EXPECT_EQ(item["holder_pid"], holder) << item.dump();
    EXPECT_NE(item["reason"].get<std::string>().find("unverifiable"), std::string::npos)
        << item.dump();
  }
  EXPECT_EQ(dir_.names().size(), 3u);

  // Overridden: "b" (really unheld) goes; "a" is really held but reap cannot see it, so the
  // override removes it too; that is what the option is documented to risk.
  auto over = sweep({"--ignore-uninspectable"});
  ASSERT_EQ(over.exit_code, 0) << describe(over);
  auto j2 = parse_report(over);
  ASSERT_FALSE(j2.is_null());
  EXPECT_EQ(item_named(j2, "b")["verdict"], "unlinked") << over.out;
  EXPECT_EQ(item_named(j2, "not-ours")["verdict"], "kept") << over.out;
  EXPECT_EQ(dir_.names().count("b"), 0u);
  EXPECT_EQ(dir_.names().count("not-ours"), 1u);
}

}  // namespace
}  // namespace reap_stress
