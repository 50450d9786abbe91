#include "core/report.hpp"

#include <gtest/gtest.h>

namespace reap::core {
namespace {

ShmPlanItem to_unlink(const std::string& name) {
  ShmPlanItem item;
  item.name = name;
  item.verdict = ShmVerdict::Unlink;
  item.reason = "unheld";
  return item;
}

// A name that was already gone when reap came to unlink it was not unlinked by reap.
TEST(Report, AlreadyGoneIsNotCountedAsUnlinked) {
  Report r;
  r.shm_phase = true;
  r.shm.push_back(
      describe_shm(to_unlink("a"), false, os::UnlinkOutcome{os::UnlinkResult::Unlinked, 0}));
  r.shm.push_back(
      describe_shm(to_unlink("b"), false, os::UnlinkOutcome{os::UnlinkResult::AlreadyGone, 0}));
  EXPECT_EQ(r.count(ShmVerdictWord::Unlinked), 1u);
  EXPECT_EQ(r.count(ShmVerdictWord::Gone), 1u);
  EXPECT_STREQ(word(r.shm[1].verdict), "gone");
  EXPECT_EQ(r.exit_code(), 0);
}

// A SIGKILL that could not be sent is an error (exit 1), and says what was sent.
TEST(Report, FailedSigkillIsAnError) {
  ProcessPlanItem item;
  item.pid = 7;
  item.verdict = ProcessVerdict::Reap;
  os::TargetOutcome o;
  o.result = os::TargetResult::Failed;
  o.sent_sigint = true;
  o.err = EPERM;
  auto line = describe_outcome(item, o, 3.0);
  EXPECT_EQ(line.verdict, ProcessVerdictWord::Error);
  EXPECT_EQ(line.signals, (std::vector<std::string>{"SIGINT"}));
  EXPECT_NE(line.reason.find("SIGKILL could not be"), std::string::npos) << line.reason;
  Report r;
  r.processes.push_back(line);
  EXPECT_EQ(r.exit_code(), 1);
}

}  // namespace
}  // namespace reap::core
