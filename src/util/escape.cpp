#include "util/escape.hpp"

#include <cstdint>
#include <cstring>

namespace reap::util {
namespace {

/// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 if ill-formed.
std::size_t utf8_sequence_length(std::string_view s) {
  auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  std::uint8_t c = b(0);
  if (c < 0x80) return 1;
  std::size_t len;
  std::uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < len; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF) return 0;
  return len;
}

constexpr char kHexDigits[] = "0123456789abcdef";

/// The code point of a well-formed sequence of length n at the start of s.
char32_t decode(std::string_view s, std::size_t n) {
  auto b = [&](std::size_t i) { return static_cast<char32_t>(static_cast<std::uint8_t>(s[i])); };
  switch (n) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

/// Valid code points a terminal must not receive raw in a name: C1 controls (U+009B is
/// CSI), line and paragraph separators, and the bidi controls that reorder what is shown.
bool unsafe_for_terminal(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

bool is_valid_utf8(std::string_view bytes) {
  while (!bytes.empty()) {
    std::size_t n = utf8_sequence_length(bytes);
    if (n == 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

std::string to_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    std::size_t n = utf8_sequence_length(bytes);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      n = 1;
    } else {
      out.append(bytes.substr(0, n));
    }
    bytes.remove_prefix(n);
  }
  return out;
}

bool plain_for_terminal(std::string_view bytes) {
  // Eight bytes at a time: no byte with the high bit set, none below 0x20, no DEL, no '\\'.
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto has_less = [](std::uint64_t w, std::uint64_t n) { return (w - kOnes * n) & ~w & kHigh; };
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    // Exact for words of ASCII bytes, which the first test ensures.
    if ((w & kHigh) || has_less(w, 0x20) || has_less(w ^ (kOnes * 0x7F), 1) ||
        has_less(w ^ (kOnes * '\\'), 1))
      return false;
  }
  for (; n > 0; ++p, --n) {
    auto c = static_cast<std::uint8_t>(*p);
    if (c < 0x20 || c >= 0x7F || c == '\\') return false;
  }
  return true;
}

std::string escape_for_terminal(std::string_view bytes) {
  if (plain_for_terminal(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    auto c = static_cast<std::uint8_t>(bytes[0]);
    std::size_t n = utf8_sequence_length(bytes);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (n == 0 || c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 15];
      n = 1;
    } else if (unsafe_for_terminal(decode(bytes, n))) {
      for (std::size_t i = 0; i < n; ++i) {
        auto b = static_cast<std::uint8_t>(bytes[i]);
        out += "\\x";
        out += kHexDigits[b >> 4];
        out += kHexDigits[b & 15];
      }
      bytes.remove_prefix(n);
      continue;
    } else {
      out.append(bytes.substr(0, n));
      bytes.remove_prefix(n);
      continue;
    }
    bytes.remove_prefix(1);
  }
  return out;
}

std::string hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<std::uint8_t>(ch);
    out += kHexDigits[c >> 4];
    out += kHexDigits[c & 15];
  }
  return out;
}

}  // namespace reap::util
