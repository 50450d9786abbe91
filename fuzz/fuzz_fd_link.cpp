// Fuzzes os::parse_fd_link.
//  1. Raw bytes: the result re-renders to the input: Socket/Pipe are "socket:[N]"/"pipe:[N]"
//     with N the decimal digits of the inode, AnonInode is "anon_inode:" + path, Path is
//     path (starting with '/') plus " (deleted)" when deleted, Other keeps the target as is.
//  2. Structured: targets rendered from fuzzed kinds, inodes and paths parse back to them.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::FdLink;
using reap::os::parse_fd_link;

constexpr std::string_view kDeleted = " (deleted)";

/// Value of a non-empty all-digit string that fits 64 bits; false otherwise.
bool decimal(std::string_view s, unsigned long long& out) {
  if (s.empty()) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto d = static_cast<unsigned long long>(c - '0');
    if (out > (~0ULL - d) / 10) return false;
    out = out * 10 + d;
  }
  return true;
}

bool bracketed(std::string_view target, std::string_view prefix, unsigned long long& ino) {
  return target.starts_with(prefix) && target.size() > prefix.size() && target.ends_with(']') &&
         decimal(target.substr(prefix.size(), target.size() - prefix.size() - 1), ino);
}

void check_raw(std::string_view target) {
  FdLink link = parse_fd_link(target);
  unsigned long long ino = 0;
  switch (link.kind) {
    case FdLink::Kind::Socket:
      FUZZ_CHECK(bracketed(target, "socket:[", ino) && ino == link.inode);
      FUZZ_CHECK(link.path.empty() && !link.deleted);
      break;
    case FdLink::Kind::Pipe:
      FUZZ_CHECK(bracketed(target, "pipe:[", ino) && ino == link.inode);
      FUZZ_CHECK(link.path.empty() && !link.deleted);
      break;
    case FdLink::Kind::AnonInode:
      FUZZ_CHECK("anon_inode:" + link.path == target);
      FUZZ_CHECK(!link.deleted && link.inode == 0);
      break;
    case FdLink::Kind::Path:
      FUZZ_CHECK(!link.path.empty() && link.path.front() == '/');
      FUZZ_CHECK(link.path + std::string(link.deleted ? kDeleted : "") == target);
      FUZZ_CHECK(link.inode == 0);
      break;
    case FdLink::Kind::Other:
      FUZZ_CHECK(link.path == target && !link.deleted && link.inode == 0);
      FUZZ_CHECK(!bracketed(target, "socket:[", ino) && !bracketed(target, "pipe:[", ino));
      FUZZ_CHECK(!target.starts_with("anon_inode:") && !target.starts_with('/'));
      break;
  }
}

void check_structured(FuzzedDataProvider& in) {
  const auto ino = in.ConsumeIntegral<unsigned long long>();
  const int kind = in.ConsumeIntegralInRange(0, 3);
  const bool deleted = in.ConsumeBool();
  const std::string s = in.ConsumeRandomLengthString(64);
  std::string target;
  FdLink link;
  switch (kind) {
    case 0:
      target = "socket:[" + std::to_string(ino) + "]";
      link = parse_fd_link(target);
      FUZZ_CHECK(link.kind == FdLink::Kind::Socket && link.inode == ino);
      break;
    case 1:
      target = "pipe:[" + std::to_string(ino) + "]";
      link = parse_fd_link(target);
      FUZZ_CHECK(link.kind == FdLink::Kind::Pipe && link.inode == ino);
      break;
    case 2:
      target = "anon_inode:" + s;
      link = parse_fd_link(target);
      FUZZ_CHECK(link.kind == FdLink::Kind::AnonInode && link.path == s);
      break;
    default: {
      const std::string path = "/" + s;
      target = path + std::string(deleted ? kDeleted : "");
      link = parse_fd_link(target);
      FUZZ_CHECK(link.kind == FdLink::Kind::Path);
      // A live file whose name itself ends in " (deleted)" reads as deleted: the kernel's
      // text cannot tell them apart (identity comes from stat, not from this text).
      if (deleted || path.ends_with(kDeleted)) {
        FUZZ_CHECK(link.deleted);
        FUZZ_CHECK(link.path + std::string(kDeleted) == target);
      } else {
        FUZZ_CHECK(!link.deleted && link.path == path);
      }
      break;
    }
  }
  FUZZ_CHECK_MSG(parse_fd_link(target).kind == link.kind, reap::fuzz::dump(target));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
