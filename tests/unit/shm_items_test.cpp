#include "core/shm_items.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <ranges>
#include <string>
#include <vector>

#include "core/report.hpp"

namespace reap::core {
namespace {

static_assert(std::forward_iterator<ShmItems::Iterator>);
static_assert(std::ranges::forward_range<const ShmItems>);

void expect_same(const ShmReportItem& got, const ShmReportItem& want, std::size_t i) {
  SCOPED_TRACE(testing::Message() << "item " << i);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.verdict, want.verdict);
  EXPECT_EQ(got.reason, want.reason);
  EXPECT_EQ(got.holder, want.holder);
  EXPECT_EQ(got.uid, want.uid);
  EXPECT_EQ(got.size, want.size);
  ASSERT_EQ(got.likely.has_value(), want.likely.has_value());
  if (want.likely) {
    EXPECT_EQ(got.likely->creator, want.likely->creator);
    EXPECT_EQ(got.likely->pid, want.likely->pid);
    EXPECT_EQ(got.likely->alive, want.likely->alive);
  }
}

ShmReportItem item(std::string name, ShmVerdictWord v, std::string reason) {
  ShmReportItem s;
  s.name = std::move(name);
  s.verdict = v;
  s.reason = std::move(reason);
  return s;
}

/// Items of every shape a sweep reports.
std::vector<ShmReportItem> every_shape() {
  std::vector<ShmReportItem> v;
  v.push_back(item("psm_1", ShmVerdictWord::Unlinked, "unheld"));
  v.push_back(item("", ShmVerdictWord::WouldUnlink, "unheld"));  // an empty name
  v.push_back(item(std::string("bad\xff\xfe utf8\n"), ShmVerdictWord::Gone,
                   "already gone when it was to be unlinked"));
  auto held = item("torch_42_x_1", ShmVerdictWord::Kept, "mapped by pid 42 (python)");
  held.holder = 42;
  held.uid = 1000;
  held.size = 1 << 20;
  held.likely = Attribution{"PyTorch", 42, true};
  v.push_back(held);
  auto held2 = held;  // the same reason again, from another holder's item
  held2.name = "torch_42_x_2";
  held2.likely->alive = false;
  v.push_back(held2);
  auto zero = item("psm_zero", ShmVerdictWord::Skipped, "not a regular file");
  zero.holder = 0;  // set but zero is not unset
  zero.uid = 4294967294u;
  zero.size = -1;
  v.push_back(zero);
  auto err = item(std::string(300, 'n'), ShmVerdictWord::Error, "unlink failed: EPERM");
  err.likely = Attribution{"Python multiprocessing", std::nullopt, std::nullopt};
  err.size = (off_t{1} << 40) + 3;
  v.push_back(err);
  auto nopid = item(std::string("nul\0inside", 10), ShmVerdictWord::Unlinked, "unheld");
  nopid.likely = Attribution{"loky/joblib", 7, std::nullopt};  // pid, alive unknown
  v.push_back(nopid);
  v.push_back(item("reason-empty", ShmVerdictWord::Kept, ""));
  return v;
}

TEST(ShmItems, RowIs32Bytes) {
  // 1,000,000 items: 32 MB of rows plus the names' bytes. A bigger row shows here.
  EXPECT_EQ(sizeof(ShmItems::Row), 32u);
}

TEST(ShmItems, RoundTripsEveryShape) {
  auto want = every_shape();
  ShmItems items;
  for (const auto& s : want) items.push_back(s);
  ASSERT_EQ(items.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    expect_same(items[i], want[i], i);
    EXPECT_EQ(items.verdict(i), want[i].verdict);
  }
}

TEST(ShmItems, MovedInItemsRoundTrip) {
  auto want = every_shape();
  auto moved = want;
  ShmItems items;
  for (auto& s : moved) items.push_back(std::move(s));
  for (std::size_t i = 0; i < want.size(); ++i) expect_same(items[i], want[i], i);
}

TEST(ShmItems, IteratesInOrder) {
  auto want = every_shape();
  ShmItems items;
  for (const auto& s : want) items.push_back(s);
  std::size_t i = 0;
  for (const auto& s : items) expect_same(s, want[i], i), ++i;
  EXPECT_EQ(i, want.size());
  EXPECT_EQ(static_cast<std::size_t>(std::distance(items.begin(), items.end())), want.size());
  std::vector<std::string> names;
  std::ranges::transform(items, std::back_inserter(names), &ShmReportItem::name);
  for (std::size_t j = 0; j < want.size(); ++j) EXPECT_EQ(names[j], want[j].name);
}

TEST(ShmItems, CountsByVerdict) {
  ShmItems items;
  for (const auto& s : every_shape()) items.push_back(s);
  auto by_count_if = [&](ShmVerdictWord v) {
    return static_cast<std::size_t>(
        std::count_if(items.begin(), items.end(), [&](const auto& s) { return s.verdict == v; }));
  };
  for (auto v : {ShmVerdictWord::Unlinked, ShmVerdictWord::WouldUnlink, ShmVerdictWord::Gone,
                 ShmVerdictWord::Kept, ShmVerdictWord::Skipped, ShmVerdictWord::Error})
    EXPECT_EQ(items.count(v), by_count_if(v));
  EXPECT_EQ(items.count(ShmVerdictWord::Unlinked), 2u);
  EXPECT_EQ(items.count(ShmVerdictWord::Kept), 3u);
  Report r;
  r.shm = items;
  EXPECT_EQ(r.count(ShmVerdictWord::Error), 1u);
  EXPECT_EQ(r.exit_code(), 1);  // an unlink failed
}

TEST(ShmItems, ReserveAndClear) {
  ShmItems items;
  EXPECT_TRUE(items.empty());
  items.reserve(100000);
  EXPECT_TRUE(items.empty());
  EXPECT_EQ(items.size(), 0u);
  for (const auto& s : every_shape()) items.push_back(s);
  EXPECT_EQ(items.size(), every_shape().size());
  items.clear();
  EXPECT_TRUE(items.empty());
  EXPECT_EQ(items.begin(), items.end());
  items.push_back(item("again", ShmVerdictWord::Unlinked, "unheld"));
  ASSERT_EQ(items.size(), 1u);
  expect_same(items[0], item("again", ShmVerdictWord::Unlinked, "unheld"), 0);
}

// Many items cross the row chunks and name blocks; names may straddle two blocks.
TEST(ShmItems, ManyItemsCrossChunksAndBlocks) {
  ShmItems items;
  const std::size_t n = 20000;
  auto nth = [](std::size_t i) {
    auto s = item("psm_u" + std::to_string(i) + std::string(i % 37, 'x'),
                  i % 100 ? ShmVerdictWord::Unlinked : ShmVerdictWord::Kept,
                  i % 100 ? "unheld" : "open by pid " + std::to_string(i) + " (worker)");
    if (i % 100 == 0) s.holder = static_cast<pid_t>(i);
    s.size = static_cast<off_t>(i) * 4096;
    return s;
  };
  for (std::size_t i = 0; i < n; ++i) items.push_back(nth(i));
  ASSERT_EQ(items.size(), n);
  std::size_t i = 0;
  for (const auto& s : items) {
    if (s.name != nth(i).name || s.reason != nth(i).reason || s.holder != nth(i).holder ||
        s.size != nth(i).size)
      FAIL() << "item " << i << " came back as " << s.name;
    ++i;
  }
  EXPECT_EQ(items.count(ShmVerdictWord::Kept), n / 100);
  // The rows and names, not a copy of each reason: a few bytes over 32 a row plus names.
  std::size_t names = 0;
  for (std::size_t j = 0; j < n; ++j) names += nth(j).name.size();
  EXPECT_LT(items.memory_bytes(), n * 32 + names + n / 100 * 64 + 3 * 65536);
}

TEST(ShmItems, CopiesAreIndependent) {
  ShmItems a;
  for (const auto& s : every_shape()) a.push_back(s);
  ShmItems b = a;
  a.clear();
  b.push_back(item("after", ShmVerdictWord::Kept, "mapped by pid 42 (python)"));
  auto want = every_shape();
  for (std::size_t i = 0; i < want.size(); ++i) expect_same(b[i], want[i], i);
  EXPECT_EQ(b[want.size()].reason, "mapped by pid 42 (python)");
  ShmItems c;
  c = b;
  ShmItems d = std::move(b);
  d.push_back(item("moved", ShmVerdictWord::Kept, "unheld"));
  EXPECT_EQ(c.size(), want.size() + 1);
  EXPECT_EQ(d.size(), want.size() + 2);
  EXPECT_EQ(d[want.size() + 1].name, "moved");
  EXPECT_EQ(d[want.size() + 1].reason, "unheld");
}

}  // namespace
}  // namespace reap::core
