// One pass over /proc: the process table and, for the identities asked about, the holder
// index. Every phase of a run reads from one Snapshot.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "os/dev_ino.hpp"
#include "util/fd.hpp"

namespace reap::os {

/// What the snapshot knows of one process. Fields from `stat` are always present; the
/// rest is filled as ScanOptions asks and as permissions allow.
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  char state = '?';
  unsigned flags = 0;
  long num_threads = 0;
  unsigned long long starttime = 0;  ///< clock ticks since boot (stat field 22)
  std::string comm;

  bool have_status = false;     ///< uids, gids, groups, sig_ign are valid
  std::array<uid_t, 4> uids{};  ///< real, effective, saved, filesystem
  std::array<gid_t, 4> gids{};
  std::vector<gid_t> groups;
  std::uint64_t sig_ign = 0;
  std::uint64_t cap_prm = 0;

  /// When status is unreadable (hidepid), the owner of /proc/PID, if known. A process with
  /// pid 0 stands for processes hidden from the listing entirely (hidepid=2).
  std::optional<uid_t> owner_hint;

  std::string cmdline;        ///< raw bytes, NUL-separated (empty if unread/kernel thread)
  std::optional<DevIno> cwd;  ///< unset when unreadable

  /// False when reap was asked for this process's fds/maps and could not read them all;
  /// `uninspectable_reason` then says why ("permission denied", ...).
  bool inspected = true;
  std::string uninspectable_reason;

  /// With ScanOptions::pin: a pidfd opened before stat was read. It names the process whose
  /// fields these are, or one that has exited since (pid reuse in between): never another.
  std::shared_ptr<util::UniqueFd> pidfd;

  /// With ScanOptions::defer_details, status, cmdline and cwd are read only when asked for
  /// (Snapshot::status_of, cmdline_of, cwd_of), through `dir`, the /proc/PID directory fd
  /// kept open, so a reused pid cannot answer for the scanned process.
  bool status_read = true;
  bool cmdline_read = true;
  bool cwd_read = true;
  std::shared_ptr<util::UniqueFd> dir;

  bool kernel_thread() const;
  bool zombie() const { return state == 'Z' || state == 'X'; }
  /// Kernel threads and exited single-threaded processes have no files. (A zombie thread
  /// group leader whose other threads live still has them: that is not "nothing".)
  bool holds_nothing() const { return kernel_thread() || (zombie() && num_threads <= 1); }
  uid_t euid() const { return uids[1]; }
};

enum class HoldKind { Fd, Mmap };

struct Holding {
  pid_t pid = 0;
  HoldKind kind = HoldKind::Fd;
};

struct ScanOptions {
  std::string proc_root = "/proc";
  /// Read status, cmdline and cwd: needed by the process phase. Without it (the sweep
  /// alone) only what the holder index needs is read, and kernel threads and zombies are
  /// left out of the table.
  bool process_details = true;
  /// With process_details: read them only when Snapshot::with_details asks, through the
  /// /proc/PID directory fd kept open (so a reused pid cannot answer for the scanned one).
  bool defer_details = false;
  /// When non-empty: read every fd table and mapping and record who holds these identities.
  std::unordered_set<DevIno, DevInoHash> watch;
  /// Open a pidfd for every process before reading its stat (ProcessInfo::pidfd), so a
  /// later signal reaches exactly the scanned process or none (the process phase sets it).
  bool pin = false;
  /// Read mappings with the PROCMAP_QUERY ioctl where the kernel has it (6.11+), else (or
  /// when false) parse the text of /proc/PID/maps.
  bool maps_query = true;
  /// Worker threads for the per-process reads (1 = scan in the calling thread).
  unsigned threads = 1;
};

class Snapshot {
 public:
  /// Set when /proc is mounted with hidepid=invisible (2) and reap is not exempt: other
  /// users' processes are missing from the listing. The sweep then fails closed for every
  /// segment another user could open.
  bool others_hidden = false;

  std::vector<ProcessInfo> processes;  ///< sorted by pid
  std::unordered_map<DevIno, std::vector<Holding>, DevInoHash> holders;
  unsigned long long taken_at_ticks = 0;  ///< boot-relative time of the scan, clock ticks
  /// Processes that could be listed but not read, for another reason than having exited
  /// (EMFILE...), and the reason of one of them. The process phase cannot see them at all.
  std::size_t unreadable = 0;
  std::string unreadable_reason;

  const ProcessInfo* find(pid_t pid) const;
  /// `p` (an element of `processes`) with the deferred part read, once. The cheap parts
  /// can then be checked before the dear ones (cmdline needs the target's memory).
  const ProcessInfo& status_of(const ProcessInfo& p) const;
  const ProcessInfo& cmdline_of(const ProcessInfo& p) const;
  const ProcessInfo& cwd_of(const ProcessInfo& p) const;
  /// Holdings of `id`, or nullptr when nothing in the snapshot holds it.
  const std::vector<Holding>* holders_of(const DevIno& id) const;
  std::vector<const ProcessInfo*> uninspectable() const;
};

/// Scans `options.proc_root`. Processes that vanish mid-scan are left out silently; kernel
/// threads and zombies hold nothing. Throws std::system_error only if the /proc directory
/// itself cannot be opened or listed.
Snapshot scan_proc(const ScanOptions& options);

/// True when the procfs at `proc_root` hides other users' processes from this process
/// (mount option hidepid=2/invisible, reap not root and not in the gid= group).
bool proc_hides_others(const std::string& proc_root);

/// Reads the start time (stat field 22) of `pid` now; nullopt if it is gone.
std::optional<unsigned long long> read_starttime(const std::string& proc_root, pid_t pid);

/// Boot-relative "now" in clock ticks (the unit of starttime).
unsigned long long now_in_ticks();

}  // namespace reap::os
