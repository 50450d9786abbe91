#include <gtest/gtest.h>

#include "util/duration.hpp"
#include "util/escape.hpp"

namespace reap::util {
namespace {

TEST(Escape, KeepsPrintableUtf8AndEscapesTheRest) {
  EXPECT_EQ(escape_for_terminal("psm_abc"), "psm_abc");
  EXPECT_EQ(escape_for_terminal("a b"), "a b");
  EXPECT_EQ(escape_for_terminal("a\nb\tc\\"), "a\\nb\\tc\\\\");
  EXPECT_EQ(escape_for_terminal("bad\xff"), "bad\\xff");
  EXPECT_EQ(escape_for_terminal("\x1b[31m"), "\\x1b[31m");
  EXPECT_EQ(escape_for_terminal("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(escape_for_terminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
}

TEST(Utf8, ValidityAndLossyConversion) {
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));  // overlong
  EXPECT_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
  EXPECT_EQ(to_utf8_lossy("a\xffz"), "a\xef\xbf\xbdz");
  EXPECT_TRUE(is_valid_utf8(to_utf8_lossy("\xe2\x82")));
  EXPECT_EQ(hex("a\xff"), "61ff");
}

TEST(Duration, UnitsAndRefusals) {
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("3"), 3.0);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("2s"), 2.0);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("5m"), 300.0);
  EXPECT_DOUBLE_EQ(*parse_duration_seconds("1h"), 3600.0);
  for (const char* bad : {"", "-1", "+1", "abc", "1x", "nan", "inf", "1e999", "1 s", "s"})
    EXPECT_FALSE(parse_duration_seconds(bad)) << bad;
}

}  // namespace
}  // namespace reap::util

namespace reap::util {
namespace {

TEST(Escape, TerminalControlsBeyondAsciiAreEscaped) {
  EXPECT_EQ(escape_for_terminal("ab\xc2\x9b"
                                "31m"),
            "ab\\xc2\\x9b31m");                                           // C1 CSI
  EXPECT_EQ(escape_for_terminal("a\xe2\x80\xaeZ"), "a\\xe2\\x80\\xaeZ");  // RLO
  EXPECT_EQ(escape_for_terminal("a\xe2\x80\xa8"), "a\\xe2\\x80\\xa8");    // LS
}

}  // namespace
}  // namespace reap::util
