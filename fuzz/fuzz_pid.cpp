// Fuzzes os::parse_pid (names of /proc entries).
//  1. Raw bytes: a result is positive and its decimal rendering is exactly the input;
//     conversely every canonical decimal of a positive pid_t parses.
//  2. Structured: the decimal of any fuzzed pid_t parses to it when positive, else nullopt.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::parse_pid;

/// True when `s` is "1".."2147483647" with no sign and no leading zero.
bool canonical_positive(std::string_view s) {
  if (s.empty() || s.front() == '0' || s.size() > 10) return false;
  unsigned long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned long long>(c - '0');
  }
  return v <= static_cast<unsigned long long>(std::numeric_limits<pid_t>::max());
}

void check_raw(std::string_view s) {
  auto pid = parse_pid(s);
  FUZZ_CHECK(pid.has_value() == canonical_positive(s));
  if (pid) FUZZ_CHECK(*pid > 0 && std::to_string(*pid) == s);
}

void check_structured(FuzzedDataProvider& in) {
  const auto n = in.ConsumeIntegral<pid_t>();
  auto pid = parse_pid(std::to_string(n));
  if (n > 0) {
    FUZZ_CHECK(pid && *pid == n);
  } else {
    FUZZ_CHECK(!pid);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
