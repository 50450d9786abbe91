// Uses the installed headers both ways and links reap::core: parses a duration and scans
// /proc for this process alone (reads, acts on nothing).
#include <unistd.h>

#include <cstdio>

#include <reap/util/duration.hpp>
#include "os/proc_scan.hpp"

int main() {
  auto d = reap::util::parse_duration_seconds("15m");
  reap::os::ScanOptions scan;
  reap::os::Snapshot snap = reap::os::scan_proc(scan);
  bool found_self = snap.find(::getpid()) != nullptr;
  std::printf("consumer: 15m = %.0f s, self in snapshot: %s\n", d ? *d : -1.0,
              found_self ? "yes" : "no");
  return d && *d == 900 && found_self ? 0 : 1;
}
