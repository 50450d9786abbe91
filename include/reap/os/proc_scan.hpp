// One pass over /proc: the process table and, for the identities asked about, the holder
// index. Every phase of a run reads from one Snapshot.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
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

  /// With ScanOptions::pin, for a process that was young when scanned (see exact_later):
  /// a pidfd opened before its stat was read. It names the process whose fields these are,
  /// or one that has exited since (pid reuse in between): never another.
  std::shared_ptr<util::UniqueFd> pidfd;
  /// Boot-relative clock tick at which stat was read.
  unsigned long long read_at_ticks = 0;

  /// Status, cmdline, cwd and exe are read only when asked for (Snapshot::status_of & co.),
  /// by path under the snapshot's /proc. A read that raced with pid reuse describes another
  /// process; that is harmless for a negative decision, and a positive one is confirmed by
  /// pinning (pidfd + start time) after the reads: while the pinned process lives, its pid
  /// named it all along.
  bool status_read = true;
  bool cmdline_read = true;
  bool cwd_read = true;
  bool exe_read = true;
  std::string exe;  ///< /proc/PID/exe target, raw (empty if unreadable)

  /// Set when stat flags show PF_EXITING (and it is not a zombie): its files are being
  /// released and /proc may refuse to show them.
  bool exiting = false;

  /// True when pinning it later by pidfd_open + a start-time check is exact: its stat was
  /// read at least two ticks after it started, so any process that reuses the pid starts in
  /// a later tick. (Younger ones need the scan's pin, `pidfd`.)
  bool exact_later() const { return read_at_ticks >= starttime + 2; }

  bool kernel_thread() const;
  bool zombie() const { return state == 'Z' || state == 'X'; }
  /// The thread group leader exited but other threads live on: /proc/PID/{fd,maps} are
  /// empty, its files are seen through a live thread (task/TID).
  bool leader_exited() const { return zombie() && num_threads > 1; }
  /// The whole process has exited (a zombie with no live thread): nothing to signal.
  bool gone() const { return zombie() && num_threads <= 1; }
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

/// A file on one of ScanOptions::unlinked_devs that a process holds although it has no name
/// any more (unlinked while open or mapped). One per (pid, file).
struct UnlinkedHolding {
  pid_t pid = 0;
  DevIno id;
  HoldKind kind = HoldKind::Fd;  ///< Fd when held open (mapped or not), else Mmap
  off_t size = 0;  ///< the file's size; for a mapping whose file cannot be stat'ed, mapped bytes
};

struct ScanOptions {
  std::string proc_root = "/proc";
  /// Keep every process in the table, kernel threads and zombies too, with status, cmdline,
  /// cwd and exe readable on demand: the process phase needs them. Without it (the sweep
  /// alone) only what the holder index needs is read.
  bool process_details = true;
  /// When non-empty: read every fd table and mapping and record who holds these identities.
  std::unordered_set<DevIno, DevInoHash> watch;
  /// Devices on which every held file is recorded, whatever its identity (the holder index
  /// then has only what processes really hold there, not a set of every listed file: a
  /// sweep of 1,000,000 files need not build one). Combines with `watch`. On a device that
  /// is also in unlinked_devs no identity is known to be listed, so every fd there is
  /// checked for its link count (which the identity's statx brings along), and a process
  /// that maps anything there has its maps text read for " (deleted)" lines (no extra read
  /// with maps_query off: the shm sweep turns it off when it watches a device).
  std::unordered_set<dev_t> watch_all_on;
  /// Report files on these devices that are held but unlinked (Snapshot::unlinked).
  std::unordered_set<dev_t> unlinked_devs;
  /// Open a pidfd before reading each process's stat, and keep it for the processes that
  /// are too young to be pinned exactly later (ProcessInfo::exact_later), so a signal
  /// reaches exactly the scanned process or none (the process phase sets it). Others hold
  /// no descriptor.
  bool pin = false;
  /// List /proc again after the scan and scan the processes that appeared meanwhile, until
  /// a listing shows nothing new (bounded). A holder that forked a child and closed its own
  /// copy before it was read is then seen through the child; a child forked by a process
  /// that was read only after it exited is seen at all.
  bool converge = true;
  /// settle_exiting waits at most this long for exiting processes (see there).
  double exiting_wait_seconds = 2.0;
  /// Read mappings with the PROCMAP_QUERY ioctl where the kernel has it (6.11+), else (or
  /// when false) parse the text of /proc/PID/maps.
  bool maps_query = true;
  /// Worker threads for the per-process reads (1 = scan in the calling thread).
  unsigned threads = 1;

  /// True when a holder index is asked for (watch or watch_all_on): the sweep's scan.
  bool watching() const { return !watch.empty() || !watch_all_on.empty(); }
};

class Snapshot {
 public:
  /// Set when /proc is mounted with hidepid=invisible (2) and reap is not exempt: other
  /// users' processes are missing from the listing. The sweep then fails closed for every
  /// segment another user could open.
  bool others_hidden = false;

  std::vector<ProcessInfo> processes;  ///< sorted by pid
  std::unordered_map<DevIno, std::vector<Holding>, DevInoHash> holders;
  std::vector<UnlinkedHolding> unlinked;  ///< with ScanOptions::unlinked_devs; by pid
  unsigned long long taken_at_ticks = 0;  ///< boot-relative time of the scan, clock ticks
  /// Processes that could be listed but not read, for another reason than having exited
  /// (EMFILE...), and the reason of one of them. The process phase cannot see them at all.
  std::size_t unreadable = 0;
  std::string unreadable_reason;
  /// Extra listings of /proc it took until no new process appeared (0: none was needed).
  int relists = 0;
  /// /proc, held open for the lazily read details.
  std::shared_ptr<util::UniqueFd> procfd;

  const ProcessInfo* find(pid_t pid) const;
  /// `p` (an element of `processes`) with the deferred part read, once. The cheap parts
  /// can then be checked before the dear ones (cmdline needs the target's memory).
  const ProcessInfo& status_of(const ProcessInfo& p) const;
  const ProcessInfo& cmdline_of(const ProcessInfo& p) const;
  const ProcessInfo& cwd_of(const ProcessInfo& p) const;
  const ProcessInfo& exe_of(const ProcessInfo& p) const;
  /// Holdings of `id`, or nullptr when nothing in the snapshot holds it.
  const std::vector<Holding>* holders_of(const DevIno& id) const;
  std::vector<const ProcessInfo*> uninspectable() const;
};

/// Scans `options.proc_root`. Processes that vanish mid-scan are left out silently; kernel
/// threads and zombies hold nothing. Throws std::system_error only if the /proc directory
/// itself cannot be opened or listed.
Snapshot scan_proc(const ScanOptions& options);

/// Processes of `pids` whose stat showed PF_EXITING while their files could not be read
/// (ProcessInfo::exiting): waits for them through pidfds, at most
/// options.exiting_wait_seconds, then reads them again. Gone ones leave the snapshot with
/// their holdings; the rest are judged as they are now ("exiting: still releasing its files
/// after N s" when still unreadable). The scan itself never waits: only the processes that
/// would otherwise keep something are worth a wait.
void settle_exiting(Snapshot& snap, const ScanOptions& options, const std::set<pid_t>& pids);

/// True when the procfs at `proc_root` hides other users' processes from this process
/// (mount option hidepid=2/invisible, reap not root and not in the gid= group).
bool proc_hides_others(const std::string& proc_root);

/// Reads the start time (stat field 22) of `pid` now; nullopt if it is gone.
std::optional<unsigned long long> read_starttime(const std::string& proc_root, pid_t pid);

/// Boot-relative "now" in clock ticks (the unit of starttime).
unsigned long long now_in_ticks();

}  // namespace reap::os
