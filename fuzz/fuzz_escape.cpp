// Fuzzes util::escape_for_terminal, util::to_utf8_lossy, util::is_valid_utf8 and util::hex,
// against an independent reference UTF-8 decoder written here.
//  - is_valid_utf8 agrees with the reference (no overlongs, surrogates, > U+10FFFF, or
//    truncated sequences).
//  - to_utf8_lossy's output is valid UTF-8, equals the input when that was valid, and equals
//    the reference (each byte of an ill-formed sequence becomes U+FFFD).
//  - escape_for_terminal's output is valid UTF-8, holds no '\n', no C0 control byte and no
//    DEL, is the input itself when that was plain printable UTF-8 without '\\', and
//    unescapes back to the input (the rendering is lossless).
//  - hex is 2 lower-case digits per byte, in order.
//  - escape_for_terminal's output holds no C1 control U+0080..U+009F (U+009B is CSI on
//    terminals that honour 8-bit controls), no U+2028/U+2029 and no bidi control.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "util/escape.hpp"

namespace {

namespace util = reap::util;

/// Length of the well-formed UTF-8 sequence at the front of `s` (0 if ill-formed), found by
/// decoding the code point and checking its range (the library checks byte ranges instead).
std::size_t ref_sequence_length(std::string_view s, char32_t* cp_out = nullptr) {
  auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  std::size_t n;
  char32_t cp;
  if ((b(0) & 0x80) == 0) {
    n = 1;
    cp = b(0);
  } else if ((b(0) & 0xE0) == 0xC0) {
    n = 2;
    cp = b(0) & 0x1Fu;
  } else if ((b(0) & 0xF0) == 0xE0) {
    n = 3;
    cp = b(0) & 0x0Fu;
  } else if ((b(0) & 0xF8) == 0xF0) {
    n = 4;
    cp = b(0) & 0x07u;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i) & 0x3Fu);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp_out != nullptr) *cp_out = cp;
  return n;
}

bool ref_valid(std::string_view s) {
  while (!s.empty()) {
    std::size_t n = ref_sequence_length(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

std::string ref_lossy(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    std::size_t n = ref_sequence_length(s);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      n = 1;
    } else {
      out += s.substr(0, n);
    }
    s.remove_prefix(n);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// Inverse of escape_for_terminal; false when `s` holds an escape it never produces.
bool unescape(std::string_view s, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) return false;
    switch (s[i]) {
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'x': {
        if (s.size() - i < 3) return false;  // needs "xNN"
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

bool plain_printable(std::string_view s) {
  while (!s.empty()) {
    char32_t cp = 0;
    std::size_t n = ref_sequence_length(s, &cp);
    if (n == 0 || cp < 0x20 || cp == 0x7F || cp == '\\') return false;
    if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
        (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
      return false;
    s.remove_prefix(n);
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string dumped = reap::fuzz::dump(bytes);

  const bool valid = util::is_valid_utf8(bytes);
  FUZZ_CHECK_MSG(valid == ref_valid(bytes), dumped);

  const std::string lossy = util::to_utf8_lossy(bytes);
  FUZZ_CHECK_MSG(util::is_valid_utf8(lossy) && ref_valid(lossy), dumped);
  FUZZ_CHECK_MSG(lossy == ref_lossy(bytes), dumped);
  if (valid) FUZZ_CHECK_MSG(lossy == bytes, dumped);

  const std::string esc = util::escape_for_terminal(bytes);
  FUZZ_CHECK_MSG(ref_valid(esc), dumped);
  for (char ch : esc) {
    auto c = static_cast<std::uint8_t>(ch);
    FUZZ_CHECK_MSG(c >= 0x20 && c != 0x7F, dumped);  // also no '\n', '\r', '\t', ESC
  }
  for (std::string_view rest = esc; !rest.empty();) {
    char32_t cp = 0;
    std::size_t n = ref_sequence_length(rest, &cp);
    FUZZ_CHECK_MSG((cp < 0x80 || cp > 0x9F) && cp != 0x2028 && cp != 0x2029 && cp != 0x202E,
                   dumped);
    rest.remove_prefix(n);
  }
  std::string back;
  FUZZ_CHECK_MSG(unescape(esc, back), dumped);
  FUZZ_CHECK_MSG(back == bytes, dumped);
  if (plain_printable(bytes)) FUZZ_CHECK_MSG(esc == bytes, dumped);

  const std::string hex = util::hex(bytes);
  FUZZ_CHECK_MSG(hex == dumped, dumped);
  return 0;
}
