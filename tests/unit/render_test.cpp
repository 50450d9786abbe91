// The renderers' fast paths for shm items (printable ASCII written as it is) against the
// general escaping: the same bytes whatever byte sits at whatever offset of an 8-byte word.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/output.hpp"
#include "core/report.hpp"
#include "util/escape.hpp"

namespace reap {
namespace {

/// Strings of 0-19 'a's with one `special` byte (or sequence) at each position.
std::vector<std::string> placements(const std::string& special) {
  std::vector<std::string> out;
  for (std::size_t len = 0; len < 20; ++len)
    for (std::size_t at = 0; at <= len; ++at)
      out.push_back(std::string(at, 'a') + special + std::string(len - at, 'a'));
  return out;
}

std::vector<std::string> specials() {
  std::vector<std::string> out;
  for (int c = 0; c < 256; ++c) out.emplace_back(1, static_cast<char>(c));
  out.push_back("\xc3\xa9");      // é, valid UTF-8
  out.push_back("\xe2\x80\xae");  // U+202E, valid but unsafe on a terminal
  out.push_back("\xc3");          // truncated sequence
  return out;
}

// Plain means escaping changes nothing; for ASCII it is exactly that. (Printable non-ASCII
// UTF-8 is kept by the escaping too, but is not "plain": it takes the general path.)
TEST(Render, PlainForTerminalIsWhenEscapingChangesNothing) {
  for (const auto& special : specials())
    for (const auto& s : placements(special)) {
      bool ascii = true;
      for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
      bool unchanged = util::escape_for_terminal(s) == s;
      EXPECT_EQ(util::plain_for_terminal(s), ascii && unchanged) << util::hex(s);
    }
}

core::ShmReportItem item(const std::string& name, const std::string& reason) {
  core::ShmReportItem s;
  s.name = name;
  s.reason = reason;
  s.verdict = core::ShmVerdictWord::Kept;
  s.holder = 42;
  s.uid = 65534;
  s.size = 4096;
  s.likely = core::Attribution{"Python multiprocessing", 7, false};
  return s;
}

TEST(Render, JsonItemsCarryEveryByteOfNamesAndReasons) {
  core::Report r;
  r.shm_phase = true;
  r.dry_run = true;
  r.shm_dir = "/dev/shm/x";
  std::vector<core::ShmReportItem> want;
  for (const auto& special : specials())
    for (std::size_t at : {0, 3, 7, 8, 9, 15}) {
      std::string text = std::string(at, 'n') + special + "tail";
      want.push_back(item(text, "open by pid 42 (" + text + ")"));
    }
  want.push_back(item("psm_plain", "unheld"));
  want.back().verdict = core::ShmVerdictWord::WouldUnlink;
  want.back().holder.reset();
  want.back().likely.reset();
  for (const auto& s : want) r.shm.push_back(s);
  std::ostringstream out;
  cli::print_json(r, out);
  auto j = nlohmann::json::parse(out.str());
  const auto& items = j["shm"]["items"];
  ASSERT_EQ(items.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& s = want[i];
    bool valid = util::is_valid_utf8(s.name);
    EXPECT_EQ(items[i]["name"], valid ? s.name : util::to_utf8_lossy(s.name)) << i;
    EXPECT_EQ(items[i].contains("name_hex"), !valid) << i;
    if (!valid) {
      EXPECT_EQ(items[i]["name_hex"], util::hex(s.name));
    }
    EXPECT_EQ(items[i]["reason"], util::to_utf8_lossy(s.reason)) << i;
    EXPECT_EQ(items[i]["verdict"],
              s.verdict == core::ShmVerdictWord::Kept ? "kept" : "would_unlink");
    EXPECT_EQ(items[i]["uid"], s.uid);
    EXPECT_EQ(items[i]["size"], s.size);
    if (s.holder) {
      EXPECT_EQ(items[i]["holder_pid"], *s.holder);
      EXPECT_EQ(items[i]["likely"]["creator"], "Python multiprocessing");
      EXPECT_EQ(items[i]["likely"]["pid"], 7);
      EXPECT_EQ(items[i]["likely"]["pid_alive"], false);
    } else {
      EXPECT_TRUE(items[i]["holder_pid"].is_null());
      EXPECT_TRUE(items[i]["likely"].is_null());
    }
  }
}

TEST(Render, HumanLinesEscapeNamesAndReasons) {
  for (bool color : {false, true}) {
    core::Report r;
    r.shm_phase = true;
    r.dry_run = true;
    std::string expect;
    for (const auto& special : specials()) {
      std::string text = "nnnnnnnnn" + special + "tail";
      auto s = item(text, "open by pid 42 (" + text + ")");
      r.shm.push_back(s);
      expect += "shm " + util::escape_for_terminal(s.name) + ": " +
                (color ? "\x1b[2mkept\x1b[0m" : "kept") + ": " +
                util::escape_for_terminal(s.reason) +
                " (likely Python multiprocessing, pid 7 gone)\n";
    }
    std::ostringstream out;
    cli::print_human(r, out, color);
    EXPECT_EQ(out.str().substr(0, expect.size()), expect);
  }
}

}  // namespace
}  // namespace reap
