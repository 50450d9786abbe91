// Fuzzes util::parse_duration_seconds.
//  1. Raw bytes: a result is finite and >= 0; the input then is a number not starting with a
//     sign, followed by one of the units "", s, ms, m, min, h, d.
//  2. Structured: a fuzzed double rendered (shortest, fixed or scientific) with a fuzzed unit
//     parses to exactly value * scale when that is finite and >= 0, and to nullopt for
//     negative values, NaN and infinities.
#include <fuzzer/FuzzedDataProvider.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "util/duration.hpp"

namespace {

using reap::util::parse_duration_seconds;

struct Unit {
  std::string_view name;
  double scale;
};
constexpr Unit kUnits[] = {{"", 1},     {"s", 1},    {"ms", 1e-3}, {"m", 60},
                           {"min", 60}, {"h", 3600}, {"d", 86400}};

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void check_raw(std::string_view text) {
  auto secs = parse_duration_seconds(text);
  if (!secs) return;
  FUZZ_CHECK_MSG(std::isfinite(*secs) && *secs >= 0 && !std::signbit(*secs), text);
  std::size_t unit_at = text.size();
  while (unit_at > 0 && is_alpha(text[unit_at - 1])) --unit_at;
  std::string_view unit = text.substr(unit_at);
  bool known = false;
  for (const auto& u : kUnits) known = known || u.name == unit;
  FUZZ_CHECK_MSG(known, text);
  FUZZ_CHECK_MSG(unit_at > 0 && text[0] != '+' && text[0] != '-', text);
}

void check_structured(FuzzedDataProvider& in) {
  double value = 0;
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      value = in.ConsumeFloatingPoint<double>();
      break;
    case 1:
      value = in.ConsumeFloatingPointInRange<double>(0, 1e6);
      break;
    case 2:
      value = static_cast<double>(in.ConsumeIntegral<std::uint32_t>());
      break;
    default: {
      // Any bit pattern: subnormals, negative zero, NaN, infinities.
      auto bits = in.ConsumeIntegral<std::uint64_t>();
      static_assert(sizeof bits == sizeof value);
      __builtin_memcpy(&value, &bits, sizeof value);
      break;
    }
  }
  const Unit& unit = kUnits[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kUnits) - 1)];
  char buf[400];
  std::to_chars_result r{};
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0:
      r = std::to_chars(buf, buf + sizeof buf, value);
      break;
    case 1:
      r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
      break;
    default:
      r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  }
  FUZZ_CHECK(r.ec == std::errc{});
  std::string text(buf, r.ptr);
  text += unit.name;

  auto secs = parse_duration_seconds(text);
  const double want = value * unit.scale;
  if (std::isfinite(value) && !std::signbit(value) && std::isfinite(want)) {
    FUZZ_CHECK_MSG(secs.has_value(), text);
    FUZZ_CHECK_MSG(*secs == want, text);
  } else {
    FUZZ_CHECK_MSG(!secs.has_value(), text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
