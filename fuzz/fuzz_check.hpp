// Shared helpers for the libFuzzer targets: a property check that aborts with a message (so
// libFuzzer records the input as a crash) and byte-string rendering for those messages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace reap::fuzz {

/// Lower-case hex of `bytes`, for failure messages (independent of util::hex on purpose).
inline std::string dump(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char ch : bytes) {
    auto c = static_cast<std::uint8_t>(ch);
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

[[noreturn]] inline void fail(const char* file, int line, const char* expr,
                              std::string_view detail) {
  std::fprintf(stderr, "%s:%d: property failed: %s\n", file, line, expr);
  if (!detail.empty())
    std::fprintf(stderr, "  detail: %.*s\n", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace reap::fuzz

/// Checks a property; on failure prints it (and `detail`, a string) and aborts.
#define FUZZ_CHECK(expr) \
  ((expr) ? static_cast<void>(0) : ::reap::fuzz::fail(__FILE__, __LINE__, #expr, {}))
#define FUZZ_CHECK_MSG(expr, detail) \
  ((expr) ? static_cast<void>(0) : ::reap::fuzz::fail(__FILE__, __LINE__, #expr, (detail)))
