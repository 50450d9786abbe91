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

}  // namespace reap::util
