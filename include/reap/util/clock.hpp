// Clocks as seconds in a double: wall time (CLOCK_REALTIME, comparable with file times) and
// monotonic time (CLOCK_MONOTONIC, for durations and deadlines).
#pragma once

#include <time.h>

namespace reap::util {

inline double seconds_of(clockid_t clock) {
  struct timespec ts;
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline double wall_seconds() {
  return seconds_of(CLOCK_REALTIME);
}

inline double monotonic_seconds() {
  return seconds_of(CLOCK_MONOTONIC);
}

/// A timespec as nanoseconds.
inline long long nanoseconds(const struct timespec& t) {
  return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

}  // namespace reap::util
