// Renders /proc/PID/maps lines the way the kernel does (fs/proc/task_mmu.c), for the maps
// fuzz targets' round-trip checks.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

namespace reap::fuzz {

struct MapsEntry {
  std::uint64_t start = 0, end = 0, offset = 0;
  std::string perms = "r--p";
  unsigned major = 0, minor = 0;
  std::uint64_t ino = 0;
  std::string path;  ///< never holds '\n' (the kernel writes it as "\\012")
};

inline MapsEntry consume_maps_entry(FuzzedDataProvider& in) {
  MapsEntry e;
  e.start = in.ConsumeIntegral<std::uint64_t>();
  e.end = in.ConsumeIntegral<std::uint64_t>();
  e.offset = in.ConsumeIntegral<std::uint64_t>();
  e.perms[0] = in.ConsumeBool() ? 'r' : '-';
  e.perms[1] = in.ConsumeBool() ? 'w' : '-';
  e.perms[2] = in.ConsumeBool() ? 'x' : '-';
  e.perms[3] = in.ConsumeBool() ? 's' : 'p';
  e.major = in.ConsumeIntegral<unsigned>();
  e.minor = in.ConsumeIntegral<unsigned>();
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      e.ino = 0;
      break;  // anonymous
    case 1:
      e.ino = in.ConsumeIntegralInRange<std::uint64_t>(1, 64);
      break;
    default:
      e.ino = in.ConsumeIntegral<std::uint64_t>();
      break;
  }
  e.path = in.ConsumeRandomLengthString(48);
  for (char& c : e.path)
    if (c == '\n') c = '?';
  return e;
}

/// "%08lx-%08lx %s %08llx %02x:%02x %lu " then padding to column 73 when a path follows.
inline std::string render_maps_line(const MapsEntry& e) {
  char buf[160];
  int n = std::snprintf(buf, sizeof buf,
                        "%08" PRIx64 "-%08" PRIx64 " %s %08" PRIx64 " %02x:%02x %" PRIu64 " ",
                        e.start, e.end, e.perms.c_str(), e.offset, e.major, e.minor, e.ino);
  std::string line(buf, static_cast<std::size_t>(n));
  if (!e.path.empty()) {
    if (line.size() < 73) line.append(73 - line.size(), ' ');
    line += e.path;
  }
  return line;
}

inline dev_t entry_dev(const MapsEntry& e) {
  return makedev(e.major, e.minor);
}

}  // namespace reap::fuzz
