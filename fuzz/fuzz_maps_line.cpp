// Fuzzes os::parse_maps_line.
//  1. Raw bytes: a successful parse has a non-zero inode, and re-rendering its dev/inode as a
//     kernel-format line parses to the same identity.
//  2. Structured: a kernel-format line from fuzzed addresses, perms, 32-bit major/minor,
//     inode and path (spaces, " (deleted)", any bytes but '\n') yields exactly
//     makedev(major, minor) and the inode, or nullopt for inode 0.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/sysmacros.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "maps_render.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::parse_maps_line;

void check_raw(std::string_view line) {
  auto ref = parse_maps_line(line);
  if (!ref) return;
  FUZZ_CHECK(ref->ino != 0);
  reap::fuzz::MapsEntry e;
  e.major = major(ref->dev);
  e.minor = minor(ref->dev);
  e.ino = ref->ino;
  e.path = "/dev/shm/x";
  FUZZ_CHECK(reap::fuzz::entry_dev(e) == ref->dev);
  auto back = parse_maps_line(reap::fuzz::render_maps_line(e));
  FUZZ_CHECK(back && back->dev == ref->dev && back->ino == ref->ino);
}

void check_structured(FuzzedDataProvider& in) {
  auto e = reap::fuzz::consume_maps_entry(in);
  auto line = reap::fuzz::render_maps_line(e);
  auto ref = parse_maps_line(line);
  if (e.ino == 0) {
    FUZZ_CHECK_MSG(!ref, line);
    return;
  }
  FUZZ_CHECK_MSG(ref.has_value(), line);
  FUZZ_CHECK_MSG(ref->dev == reap::fuzz::entry_dev(e), line);
  FUZZ_CHECK_MSG(ref->ino == e.ino, line);
  FUZZ_CHECK(major(ref->dev) == e.major && minor(ref->dev) == e.minor);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
