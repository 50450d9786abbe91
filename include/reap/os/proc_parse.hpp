// Parsers for the text files under /proc/PID. Pure functions over bytes: no syscalls, no
// allocation beyond the returned values, total on any input (malformed text yields nullopt,
// never a crash). They are the fuzzing surface (fuzz/).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reap::os {

/// Fields of /proc/PID/stat that reap uses. `comm` may hold spaces and parentheses: the
/// kernel brackets it by the first '(' and the *last* ')' of the line.
struct StatFields {
  pid_t pid = 0;
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  unsigned flags = 0;                ///< field 9, PF_* bits (PF_KTHREAD = 0x00200000)
  long num_threads = 0;              ///< field 20
  unsigned long long starttime = 0;  ///< field 22, clock ticks since boot
};
constexpr unsigned kPfKthread = 0x00200000;
std::optional<StatFields> parse_stat(std::string_view text);

/// Fields of /proc/PID/status that reap uses. Uid/Gid lines hold real, effective, saved and
/// filesystem ids, in that order.
struct StatusFields {
  std::array<uid_t, 4> uids{};
  std::array<gid_t, 4> gids{};
  std::vector<gid_t> groups;
  std::uint64_t sig_ign = 0;  ///< SigIgn mask: bit (signo - 1) set when ignored
  std::uint64_t sig_blk = 0;  ///< SigBlk mask (of the thread read)
  std::uint64_t cap_prm = 0;  ///< CapPrm: permitted capabilities
  long threads = 0;
};
std::optional<StatusFields> parse_status(std::string_view text);

/// The file identity named by one line of /proc/PID/maps:
/// "start-end perms offset maj:min inode  path". maj/min are hex, inode decimal.
/// Anonymous mappings (inode 0) yield nullopt, as do malformed lines.
struct MapsFileRef {
  dev_t dev = 0;
  ino_t ino = 0;
};
std::optional<MapsFileRef> parse_maps_line(std::string_view line);

/// Calls `fn(MapsFileRef)` for every file-backed line of a whole maps text. Consecutive
/// lines naming the same file are reported once.
template <class Fn>
void for_each_maps_file(std::string_view text, Fn&& fn) {
  MapsFileRef last{};
  bool have_last = false;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto ref = parse_maps_line(line);
    if (!ref) continue;
    if (have_last && ref->dev == last.dev && ref->ino == last.ino) continue;
    last = *ref;
    have_last = true;
    fn(*ref);
  }
}

/// Splits a raw /proc/PID/cmdline (NUL-separated, maybe NUL-terminated) into arguments.
/// A process that rewrote its argv may use spaces instead of NULs: that yields one argument.
std::vector<std::string> split_cmdline(std::string_view raw);

/// What a /proc/PID/fd/N link target names, e.g. "/dev/shm/x (deleted)", "socket:[123]",
/// "pipe:[77]", "anon_inode:[eventfd]". Used for reporting only: identity comes from stat.
struct FdLink {
  enum class Kind { Path, Socket, Pipe, AnonInode, Other };
  Kind kind = Kind::Other;
  std::string path;              ///< for Path, without the " (deleted)" suffix
  bool deleted = false;          ///< Path ended in " (deleted)"
  unsigned long long inode = 0;  ///< for Socket and Pipe
};
FdLink parse_fd_link(std::string_view target);

/// Parses a decimal pid ("123"); nullopt for anything else (used on /proc entry names).
std::optional<pid_t> parse_pid(std::string_view s);

}  // namespace reap::os
