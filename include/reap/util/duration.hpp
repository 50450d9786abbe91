// Parsing of the durations users type: "3", "0.5", "500ms", "30s", "5m", "1h".
#pragma once

#include <optional>
#include <string_view>

namespace reap::util {

/// Seconds as a finite, non-negative double; nullopt for anything else (negative, NaN,
/// inf, empty, unknown unit, trailing garbage). A bare number means seconds.
std::optional<double> parse_duration_seconds(std::string_view text);

}  // namespace reap::util
