// Uses the installed headers both ways and links reap::core (which brings reap::os): asks the
// policy whether a command line is a python program, parses a duration and scans /proc for
// this process alone (reads, acts on nothing).
#include <unistd.h>

#include <cstdio>
#include <string>

#include <reap/core/program_match.hpp>
#include <reap/util/duration.hpp>
#include "os/proc_scan.hpp"

int main() {
  using namespace std::string_literals;
  const std::string cmdline = "python3\0-m\0worker\0"s;
  bool python = reap::core::program_matches(cmdline, "/usr/bin/python3.11", "python3", {"python"});
  bool tail = reap::core::program_matches("tail\0-f\0notes-python.txt\0"s, "/usr/bin/tail", "tail",
                                          {"python"});
  auto d = reap::util::parse_duration_seconds("15m");
  reap::os::ScanOptions scan;
  reap::os::Snapshot snap = reap::os::scan_proc(scan);
  bool found_self = snap.find(::getpid()) != nullptr;
  std::printf(
      "consumer: python matches: %s, tail matches: %s, 15m = %.0f s, self in snapshot: %s\n",
      python ? "yes" : "no", tail ? "yes" : "no", d ? *d : -1.0, found_self ? "yes" : "no");
  return python && !tail && d && *d == 900 && found_self ? 0 : 1;
}
