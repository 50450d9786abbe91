#include "util/duration.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

namespace reap::util {

std::optional<double> parse_duration_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::size_t unit_at = text.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(text[unit_at - 1]))) --unit_at;
  std::string_view number = text.substr(0, unit_at);
  std::string_view unit = text.substr(unit_at);
  if (number.empty() || number.front() == '+' || number.front() == '-') return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc{} || end != number.data() + number.size()) return std::nullopt;
  double scale;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e-3;
  } else if (unit == "m" || unit == "min") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  } else {
    return std::nullopt;
  }
  double seconds = value * scale;
  if (!std::isfinite(seconds) || seconds < 0) return std::nullopt;
  return seconds;
}

}  // namespace reap::util
