#include "os/proc_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <system_error>
#include <thread>

#include "os/dirent64.hpp"
#include "os/maps_query.hpp"
#include "os/pidfd.hpp"
#include "os/proc_parse.hpp"
#include "os/unlinked.hpp"
#include "util/fd.hpp"

namespace reap::os {
namespace {

using util::UniqueFd;

bool gone(int err) {
  return err == ENOENT || err == ESRCH;
}

constexpr unsigned kPfExiting = 0x00000004;  // PF_EXITING: do_exit() has begun

/// The identity of what `name` (relative to `dirfd`, magic links followed) refers to,
/// without syncing: AT_STATX_DONT_SYNC, and no timestamp asked for, so a file on a dead NFS or
/// FUSE server is answered from cached attributes instead of blocking reap (NFS flushes
/// another process's dirty pages only for c/mtime). The device is always filled by statx.
/// Returns 0 or an errno. `nlink`/`size` are set when the file system filled them (for the
/// unlinked-but-held report: no second statx).
int identity_at(int dirfd, const char* name, DevIno& out, std::optional<std::uint64_t>* nlink,
                off_t* size) {
  struct statx stx;
  if (::statx(dirfd, name, AT_STATX_DONT_SYNC, STATX_INO | STATX_NLINK | STATX_SIZE, &stx) != 0)
    return errno;
  out = DevIno{makedev(stx.stx_dev_major, stx.stx_dev_minor), static_cast<ino_t>(stx.stx_ino)};
  if (nlink && (stx.stx_mask & STATX_NLINK)) *nlink = stx.stx_nlink;
  if (size && (stx.stx_mask & STATX_SIZE)) *size = static_cast<off_t>(stx.stx_size);
  return 0;
}

int identity_at(int dirfd, const char* name, DevIno& out) {
  return identity_at(dirfd, name, out, nullptr, nullptr);
}

/// "NAME/LEAF" into `out` (truncated to its `N` bytes with a NUL, as snprintf would): the
/// per-process paths, three or more for each process, without snprintf's format parsing.
template <std::size_t N>
const char* join_path(char (&out)[N], const char* name, const char* leaf) {
  std::size_t n = 0;
  for (const char* p = name; *p && n + 1 < N; ++p) out[n++] = *p;
  if (n + 1 < N) out[n++] = '/';
  for (const char* p = leaf; *p && n + 1 < N; ++p) out[n++] = *p;
  out[n] = '\0';
  return out;
}

/// reap's own credentials, for saying why a process could not be inspected.
struct SelfCreds {
  uid_t euid = ::geteuid();
  std::uint64_t cap_prm = 0;
};

/// Why `p`'s fds or maps could not be read: the kernel's ptrace-read check failed. Names
/// the likely cause from what /proc/PID/status (readable to all) shows.
std::string describe_denial(int err, const ProcessInfo& p, const SelfCreds& self) {
  if (err != EACCES && err != EPERM) return std::strerror(err);
  if (!p.have_status) return "permission denied";
  if (self.euid != 0 && p.euid() != self.euid)
    return "permission denied: runs as uid " + std::to_string(p.euid());
  if ((p.cap_prm & ~self.cap_prm) != 0)
    return "permission denied: it holds capabilities reap lacks";
  if (self.euid != 0 && (p.uids[0] != self.euid || p.uids[2] != self.euid))
    return "permission denied: its real or saved uid differs (set-uid)";
  return "permission denied: not dumpable, or in another user namespace";
}

/// Calls fn(name) for each entry of the open directory `fd` except "." and "..".
/// Returns 0 or the errno of the listing. Takes ownership of nothing.
template <class Fn>
int for_each_dirent(int fd, Fn&& fn) {
  alignas(8) char buf[32768];
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      fn(name, d->d_type);
    }
  }
}

/// Reads /proc/PID/status into `p` (uids, gids, groups, SigIgn, CapPrm).
bool read_status_into(int dirfd, const char* path, ProcessInfo& p, std::string& buf) {
  if (util::read_single_record_at(dirfd, path, buf)) return false;
  auto status = parse_status(buf);
  if (!status) return false;
  p.uids = status->uids;
  p.gids = status->gids;
  p.groups = std::move(status->groups);
  p.sig_ign = status->sig_ign;
  p.cap_prm = status->cap_prm;
  p.have_status = true;
  return true;
}

/// The devices of the watch set and of watch_all_on: a held file elsewhere is never looked
/// up. (The watch set is walked once; its devices are few.)
std::unordered_set<dev_t> watched_devices(const ScanOptions& options) {
  std::unordered_set<dev_t> devs(options.watch_all_on.begin(), options.watch_all_on.end());
  dev_t last = 0;
  bool have_last = false;
  for (const auto& id : options.watch) {
    if (have_last && id.dev == last) continue;
    devs.insert(id.dev);
    last = id.dev;
    have_last = true;
  }
  return devs;
}

/// Adds the (identity, holding) pairs of `held` to `holders` without repeating a holding
/// in an identity's list, leaves every list sorted by (pid, kind), and empties `held`.
void index_holdings(std::vector<std::pair<DevIno, Holding>>& held,
                    std::unordered_map<DevIno, std::vector<Holding>, DevInoHash>& holders) {
  holders.reserve(holders.size() + held.size());
  for (const auto& [id, h] : held) {
    auto& list = holders[id];
    bool have = false;
    for (const auto& x : list) have = have || (x.pid == h.pid && x.kind == h.kind);
    if (!have) list.push_back(h);
  }
  held.clear();
  for (auto& [id, list] : holders)
    if (list.size() > 1)
      std::sort(list.begin(), list.end(), [](const Holding& a, const Holding& b) {
        return a.pid != b.pid ? a.pid < b.pid : a.kind < b.kind;
      });
}

/// A few devices (the swept file systems, one or two): a linear search costs less than a
/// hash for each fd and mapping looked at.
struct DevSet {
  std::vector<dev_t> devs;
  static DevSet of(const std::unordered_set<dev_t>& set) { return {{set.begin(), set.end()}}; }
  std::size_t count(dev_t d) const { return std::find(devs.begin(), devs.end(), d) != devs.end(); }
};

/// Per-worker state: buffers reused across processes, and the results of its share.
struct Worker {
  const ScanOptions* options = nullptr;
  SelfCreds self;
  std::size_t unreadable = 0;
  int last_unreadable_errno = 0;
  DevSet watch_devs;
  std::string buf;
  std::vector<ProcessInfo> processes;
  /// What this worker found held, in the order found (repeats too): index_holdings makes
  /// the snapshot's map of it once, instead of a map per worker merged afterwards.
  std::vector<std::pair<DevIno, Holding>> held;
  /// (pid, starttime) of every pid this worker looked at (starttime 0: unreadable).
  std::vector<std::pair<pid_t, unsigned long long>> seen;
  std::vector<UnlinkedHolding> unlinked;
  bool maybe_unlinked_mapping = false;  ///< this process maps an unknown file on such a dev

  bool watching() const { return options->watching(); }

  /// Whether the holder index answers for `id`: every file on a watch_all_on device, else
  /// the watch set's identities.
  bool watches(const DevIno& id) const {
    return options->watch_all_on.count(id.dev) > 0 || options->watch.count(id) > 0;
  }
  /// Whether a held `id` on an unlinked_devs device may be unlinked: not one of the listed
  /// identities. (With watch_all_on nothing is known to be listed: every one may be.)
  bool maybe_unlinked(const DevIno& id) const {
    return options->unlinked_devs.count(id.dev) > 0 &&
           (options->watch_all_on.count(id.dev) > 0 || options->watch.count(id) == 0);
  }

  void record(const DevIno& id, pid_t pid, HoldKind kind) {
    if (!watches(id)) return;
    held.push_back({id, Holding{pid, kind}});
  }

  /// Stats every fd in the open fd directory `fddir`. Returns 0 or the errno that made
  /// the table unreadable (EACCES: the fd entries of a non-dumpable or foreign process).
  int scan_fd_dir(int fddir, pid_t pid) {
    int failure = 0;
    int err = for_each_dirent(fddir, [&](const char* name, unsigned char) {
      if (failure) return;
      DevIno id;
      std::optional<std::uint64_t> nlink;
      off_t size = 0;
      if (int e = identity_at(fddir, name, id, &nlink, &size)) {
        if (e == ENOENT) return;  // closed meanwhile
        failure = e;
        return;
      }
      if (!watch_devs.count(id.dev)) return;
      if (maybe_unlinked(id)) {
        // An unlisted file on a swept file system: unlinked while open? (The link count came
        // with the identity; a file system that did not fill it is asked once more.)
        if (!nlink) {
          struct statx stx;
          if (::statx(fddir, name, AT_STATX_DONT_SYNC, STATX_INO | STATX_NLINK | STATX_SIZE,
                      &stx) == 0) {
            nlink = stx.stx_nlink;
            size = static_cast<off_t>(stx.stx_size);
          }
        }
        if (nlink && *nlink == 0) note_unlinked({pid, id, HoldKind::Fd, size});
      }
      record(id, pid, HoldKind::Fd);
    });
    return failure ? failure : err;
  }

  /// A live thread of `p` whose leader has exited, as "NAME/task/TID" in `out`. Returns 0,
  /// or ESRCH when no thread is left alive, or the errno of the listing.
  int live_thread_path(int base, const char* name, const ProcessInfo& p, std::string& out) {
    std::string task = std::string(name) + "/task";
    UniqueFd taskdir(::openat(base, task.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!taskdir.valid()) return errno;
    pid_t found = 0;
    int err = for_each_dirent(taskdir.get(), [&](const char* tname, unsigned char) {
      auto tid = parse_pid(tname);
      if (found || !tid || *tid == p.pid) return;
      std::string stat_path = std::string(tname) + "/stat";
      if (util::read_single_record_at(taskdir.get(), stat_path.c_str(), buf)) return;
      auto st = parse_stat(buf);
      if (st && st->state != 'Z' && st->state != 'X') found = *tid;
    });
    if (err) return err;
    if (!found) return ESRCH;
    out = task + "/" + std::to_string(found);
    return 0;
  }

  /// Reads fds (every distinct fd table among the threads) and maps of one process.
  /// Returns 0, or the errno that left something unread.
  int scan_holdings(int base, const char* name, ProcessInfo& p) {
    // A leader that exited while other threads live has no fds or mappings of its own to
    // show (its files and mm are gone from /proc/PID): read them through a live thread.
    std::string thread_path;
    pid_t self_tid = p.pid;
    if (p.leader_exited()) {
      if (int e = live_thread_path(base, name, p, thread_path)) return e == ESRCH ? ENOENT : e;
      name = thread_path.c_str();
      self_tid = *parse_pid(thread_path.substr(thread_path.rfind('/') + 1));
    }
    // Fd tables first, maps last: the usual way to hold a segment is open, mmap, close.
    // Read in this order, a hold that moves from an fd to a mapping mid-scan is seen in
    // one of the two; read the other way round it could slip between them.
    char path[64];
    auto at = [&](const char* leaf) { return join_path(path, name, leaf); };
    UniqueFd fddir(::openat(base, at("fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fddir.valid()) return errno;
    int err = scan_fd_dir(fddir.get(), p.pid);
    if (err) return err;
    if (p.num_threads > 1) {
      std::string task = std::to_string(p.pid) + "/task";
      if ((err = scan_thread_fd_tables(base, task.c_str(), p, self_tid))) return err;
    }

    UniqueFd maps(::openat(base, at("maps"), O_RDONLY | O_CLOEXEC));
    if (!maps.valid()) return errno;
    maybe_unlinked_mapping = false;
    auto on_mapping = [&](const MapsFileRef& ref) {
      if (!watch_devs.count(ref.dev)) return;
      DevIno id{ref.dev, ref.ino};
      if (maybe_unlinked(id)) maybe_unlinked_mapping = true;
      record(id, p.pid, HoldKind::Mmap);
    };
    if (options->maps_query) {
      err = query_file_mappings(maps.get(), on_mapping);
      if (!err && maybe_unlinked_mapping) scan_unlinked_mappings(base, name, p.pid);
      if (err != ENOTTY && err != EINVAL) return err;
    }
    if ((err = util::read_fd(maps.get(), buf))) return err;
    for_each_maps_file(buf, on_mapping);
    if (maybe_unlinked_mapping) note_deleted_mappings(base, name, p.pid, buf);
    return 0;
  }

  /// Keeps one record per (pid, file); an open fd's size wins over a mapped length.
  void note_unlinked(const UnlinkedHolding& u) {
    for (auto& have : unlinked)
      if (have.pid == u.pid && have.id == u.id) {
        if (u.kind == HoldKind::Fd) have = u;
        return;
      }
    unlinked.push_back(u);
  }

  /// The maps text of a process that maps some unlisted file on an unlinked_devs device
  /// (rare: read only then), for the lines that say " (deleted)".
  void scan_unlinked_mappings(int base, const char* name, pid_t pid) {
    char path[48];
    join_path(path, name, "maps");
    std::string text;
    if (util::read_file_at(base, path, text)) return;
    note_deleted_mappings(base, name, pid, text);
  }

  void note_deleted_mappings(int base, const char* name, pid_t pid, const std::string& text) {
    for_each_deleted_mapping(text, [&](const DeletedMapping& m) {
      if (!options->unlinked_devs.count(m.dev)) return;
      UnlinkedHolding u{pid, DevIno{m.dev, m.ino}, HoldKind::Mmap,
                        static_cast<off_t>(m.end - m.start)};
      // The file's own size and link count, where map_files is readable (CAP_SYS_ADMIN).
      char path[96];
      std::snprintf(path, sizeof path, "%s/map_files/%llx-%llx", name,
                    static_cast<unsigned long long>(m.start),
                    static_cast<unsigned long long>(m.end));
      struct stat st;
      if (::fstatat(base, path, &st, 0) == 0 && DevIno::of(st) == u.id) {
        if (st.st_nlink != 0) return;  // a file really named "... (deleted)"
        u.size = st.st_size;
      }
      for (auto& have : unlinked)
        if (have.pid == u.pid && have.id == u.id) {
          if (have.kind == HoldKind::Mmap && u.size > have.size) have.size = u.size;
          return;
        }
      unlinked.push_back(u);
    });
  }

  /// Reads the fd tables of the threads that do not share the table of `self_tid` (the
  /// thread whose table was read already).
  int scan_thread_fd_tables(int base, const char* task_path, const ProcessInfo& p, pid_t self_tid) {
    // A thread may have unshared its fd table (unshare(CLONE_FILES)): /proc/PID/fd shows
    // only the leader's. kcmp(KCMP_FILES) tells whether a task shares the leader's table;
    // where kcmp is unavailable, every task's table is read.
    UniqueFd taskdir(::openat(base, task_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!taskdir.valid()) return errno;
    int failure = 0;
    int err = for_each_dirent(taskdir.get(), [&](const char* name, unsigned char) {
      if (failure) return;
      auto tid = parse_pid(name);
      if (!tid || *tid == self_tid || *tid == p.pid) return;
      if (::syscall(SYS_kcmp, self_tid, *tid, KCMP_FILES, 0, 0) == 0) return;
      std::string path = std::string(name) + "/fd";
      UniqueFd tfd(::openat(taskdir.get(), path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!tfd.valid()) {
        if (!gone(errno)) failure = errno;
        return;
      }
      int e = scan_fd_dir(tfd.get(), p.pid);
      if (e && !gone(e)) failure = e;
    });
    return failure ? failure : err;
  }

  /// A process whose /proc directory cannot be read at all. The directory's owner (the
  /// process's effective uid) is all that is known of it.
  /// `dirfd`/`name` is the /proc/PID directory (its owner is stat-able even when it
  /// cannot be opened).
  void record_hidden(pid_t pid, int dirfd, const char* name) {
    if (!watching()) return;  // only the sweep needs to know it exists
    ProcessInfo p;
    p.pid = pid;
    p.comm = "?";
    p.inspected = false;
    p.uninspectable_reason = "permission denied: /proc/PID is unreadable (hidepid)";
    struct stat st;
    if (::fstatat(dirfd, name, &st, 0) == 0) p.owner_hint = st.st_uid;
    processes.push_back(std::move(p));
  }

  /// A process that could not be read for another reason than exiting (EMFILE, ENOMEM...):
  /// nothing is known of it, so for the sweep it could hold anything.
  void record_unknown(pid_t pid, int err) {
    ++unreadable;
    last_unreadable_errno = err;
    if (!watching()) return;
    ProcessInfo p;
    p.pid = pid;
    p.comm = "?";
    p.inspected = false;
    p.uninspectable_reason = std::string("could not be read: ") + std::strerror(err);
    processes.push_back(std::move(p));
  }

  /// Fills `p` from a parsed stat.
  static void take_stat(ProcessInfo& p, StatFields&& st) {
    p.ppid = st.ppid;
    p.pgrp = st.pgrp;
    p.session = st.session;
    p.state = st.state;
    p.flags = st.flags;
    p.num_threads = st.num_threads;
    p.starttime = st.starttime;
    p.comm = std::move(st.comm);
  }

  /// Holdings could not be read (err): exited meanwhile (nothing to record), a kernel
  /// thread or zombie (holds nothing), exiting (judged again after a wait), or a process reap
  /// cannot inspect.
  void classify_unreadable(int err, int procfd, const char* name, ProcessInfo& p) {
    if (gone(err)) return;
    char path[48];
    join_path(path, name, "stat");
    if (int e = util::read_single_record_at(procfd, path, buf)) {
      if (gone(e)) return;  // exited meanwhile
      // Neither gone nor readable (EMFILE, ENOMEM, ...): it may hold anything. Fail closed.
      mark_uninspectable(p, e);
      processes.push_back(std::move(p));
      return;
    }
    auto again = parse_stat(buf);
    if (!again || again->pid != p.pid || again->starttime != p.starttime) return;
    take_stat(p, std::move(*again));
    if (!p.holds_nothing()) {
      if (!p.have_status) read_status(procfd, name, p);
      if ((p.flags & kPfExiting) && !p.zombie()) {
        // Freeing a large address space takes a while, and meanwhile /proc refuses its
        // files: that is not "uninspectable", it is "about to hold nothing".
        p.exiting = true;
        p.inspected = false;
        p.uninspectable_reason = "exiting";
      } else {
        mark_uninspectable(p, err);
      }
    }
    processes.push_back(std::move(p));
  }

  void mark_uninspectable(ProcessInfo& p, int err) {
    if (err != EACCES && err != EPERM) {
      ++unreadable;
      last_unreadable_errno = err;
    }
    p.inspected = false;
    p.uninspectable_reason = describe_denial(err, p, self);
    if (p.uninspectable_reason.empty()) p.uninspectable_reason = std::strerror(err);
  }

  bool read_status(int procfd, const char* name, ProcessInfo& p) {
    char path[48];
    join_path(path, name, "status");
    return read_status_into(procfd, path, p, buf);
  }

  /// One process, by paths relative to /proc (no directory fd is held per process). With
  /// ScanOptions::pin a pidfd is opened before stat is read and kept only for a process too
  /// young to be pinned exactly later.
  void scan_pid(int procfd, pid_t pid, const char* name) {
    seen.emplace_back(pid, 0);
    std::unique_ptr<UniqueFd> pin;
    if (options->pin) {
      int fd = pidfd_open(pid);
      if (fd < 0 && errno == ESRCH) return;               // vanished
      if (fd >= 0) pin = std::make_unique<UniqueFd>(fd);  // else (EMFILE...) unpinned
    }
    char path[48];
    join_path(path, name, "stat");
    if (int err = util::read_single_record_at(procfd, path, buf)) {
      // hidepid=1 ("noaccess"): the directory is listed but nothing in it can be read;
      // hidepid=2 hides it, which is caught when /proc itself is checked.
      if (err == EACCES || err == EPERM)
        record_hidden(pid, procfd, name);
      else if (!gone(err))
        record_unknown(pid, err);
      return;
    }
    auto stat = parse_stat(buf);
    if (!stat || stat->pid != pid) return;
    ProcessInfo p;
    p.pid = pid;
    p.read_at_ticks = now_in_ticks();
    take_stat(p, std::move(*stat));
    seen.back().second = p.starttime;
    if (pin && !p.exact_later()) p.pidfd = std::shared_ptr<UniqueFd>(std::move(pin));
    pin.reset();
    if (options->process_details) {
      p.status_read = p.cmdline_read = p.cwd_read = p.exe_read = false;
    } else if (p.holds_nothing()) {
      return;  // kernel thread or zombie: the sweep alone does not need it in the table
    }
    if ((watching() || !options->unlinked_devs.empty()) && !p.holds_nothing()) {
      if (int err = scan_holdings(procfd, name, p)) {
        classify_unreadable(err, procfd, name, p);
        return;
      }
    }
    processes.push_back(std::move(p));
  }
};

}  // namespace

bool ProcessInfo::kernel_thread() const {
  return (flags & kPfKthread) != 0 || pid == 2 || ppid == 2;
}

// The snapshot owns its processes; the lazily read fields are filled in place, once. (The
// snapshot is logically const: these reads complete what it describes, on demand.)
namespace {
std::string pid_path(pid_t pid, const char* leaf) {
  return std::to_string(pid) + "/" + leaf;
}
}  // namespace

const ProcessInfo& Snapshot::status_of(const ProcessInfo& p) const {
  if (!p.status_read && procfd && p.pid > 0) {
    std::string buf;
    auto& m = const_cast<ProcessInfo&>(p);
    m.status_read = true;
    read_status_into(procfd->get(), pid_path(p.pid, "status").c_str(), m, buf);
  }
  return p;
}

const ProcessInfo& Snapshot::cmdline_of(const ProcessInfo& p) const {
  if (!p.cmdline_read && procfd && p.pid > 0) {
    auto& m = const_cast<ProcessInfo&>(p);
    m.cmdline_read = true;
    if (!p.kernel_thread())
      util::read_file_at(procfd->get(), pid_path(p.pid, "cmdline").c_str(), m.cmdline);
  }
  return p;
}

const ProcessInfo& Snapshot::cwd_of(const ProcessInfo& p) const {
  if (!p.cwd_read && procfd && p.pid > 0) {
    auto& m = const_cast<ProcessInfo&>(p);
    m.cwd_read = true;
    DevIno id;
    if (!p.kernel_thread() && identity_at(procfd->get(), pid_path(p.pid, "cwd").c_str(), id) == 0)
      m.cwd = id;
  }
  return p;
}

const ProcessInfo& Snapshot::exe_of(const ProcessInfo& p) const {
  if (!p.exe_read && procfd && p.pid > 0) {
    auto& m = const_cast<ProcessInfo&>(p);
    m.exe_read = true;
    char target[4096];
    ssize_t n = p.kernel_thread() ? -1
                                  : ::readlinkat(procfd->get(), pid_path(p.pid, "exe").c_str(),
                                                 target, sizeof target);
    if (n > 0) m.exe.assign(target, static_cast<std::size_t>(n));
  }
  return p;
}

const ProcessInfo* Snapshot::find(pid_t pid) const {
  auto it = std::lower_bound(processes.begin(), processes.end(), pid,
                             [](const ProcessInfo& p, pid_t v) { return p.pid < v; });
  return it != processes.end() && it->pid == pid ? &*it : nullptr;
}

const std::vector<Holding>* Snapshot::holders_of(const DevIno& id) const {
  auto it = holders.find(id);
  return it == holders.end() ? nullptr : &it->second;
}

std::vector<const ProcessInfo*> Snapshot::uninspectable() const {
  std::vector<const ProcessInfo*> out;
  for (const auto& p : processes)
    if (!p.inspected) out.push_back(&p);
  return out;
}

unsigned long long now_in_ticks() {
  struct timespec ts;
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<unsigned long long>(ts.tv_sec) * static_cast<unsigned long long>(hz) +
         static_cast<unsigned long long>(ts.tv_nsec) /
             (1000000000ull / static_cast<unsigned long long>(hz));
}

std::optional<unsigned long long> read_starttime(const std::string& proc_root, pid_t pid) {
  std::string buf;
  std::string path = proc_root + "/" + std::to_string(pid) + "/stat";
  if (util::read_file_at(AT_FDCWD, path.c_str(), buf)) return std::nullopt;
  auto st = parse_stat(buf);
  if (!st || st->pid != pid) return std::nullopt;
  return st->starttime;
}

namespace {

SelfCreds self_creds() {
  SelfCreds self;
  std::string buf;
  if (util::read_file_at(AT_FDCWD, "/proc/self/status", buf) == 0)
    if (auto st = parse_status(buf)) self.cap_prm = st->cap_prm;
  return self;
}

/// Forks (and clones) since boot: the "processes" line of /proc/stat; 0 if unreadable.
unsigned long long forks_since_boot(int procfd) {
  std::string text;
  if (util::read_file_at(procfd, "stat", text)) return 0;
  auto at = text.find("\nprocesses ");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + 11, nullptr, 10);
}

long pid_max(int procfd) {
  std::string text;
  if (util::read_file_at(procfd, "sys/kernel/pid_max", text)) return 32768;
  long v = std::strtol(text.c_str(), nullptr, 10);
  return v > 0 ? v : 32768;
}

std::vector<std::pair<pid_t, std::string>> list_pids(int procfd, const std::string& root) {
  std::vector<std::pair<pid_t, std::string>> pids;
  // The same fd each time (a low descriptor limit may leave no other), rewound first.
  int err = ::lseek(procfd, 0, SEEK_SET) < 0 ? errno : 0;
  if (!err)
    err = for_each_dirent(procfd, [&](const char* name, unsigned char) {
      if (auto pid = parse_pid(name)) pids.emplace_back(*pid, name);
    });
  if (err) throw std::system_error(err, std::generic_category(), "cannot list " + root);
  std::sort(pids.begin(), pids.end());
  return pids;
}

/// Rounds of re-listing before the scan gives up on seeing a quiet moment (fork storm).
constexpr int kMaxRelists = 8;

/// Processes (of `only`) that were exiting when their files could not be read: wait for
/// them through pidfds (bounded by options.exiting_wait_seconds), then read them again. Gone
/// ones leave the snapshot (with their holdings); the rest are judged as they are now.
void wait_for_exiting(Snapshot& snap, const ScanOptions& options, Worker& w,
                      const std::set<pid_t>& only) {
  std::vector<std::size_t> exiting;
  for (std::size_t i = 0; i < snap.processes.size(); ++i)
    if (snap.processes[i].exiting && only.count(snap.processes[i].pid)) exiting.push_back(i);
  if (exiting.empty()) return;
  std::vector<UniqueFd> fds;
  std::vector<struct pollfd> polls;
  for (std::size_t i : exiting) {
    int fd = pidfd_open(snap.processes[i].pid);
    if (fd < 0) continue;
    fds.emplace_back(fd);
    polls.push_back({fd, POLLIN, 0});
  }
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options.exiting_wait_seconds));
  auto t0 = Clock::now();
  for (std::size_t waiting = polls.size(); waiting > 0;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    int n = ::poll(polls.data(), polls.size(), static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    waiting = 0;
    for (auto& pfd : polls) {
      if (pfd.revents) pfd.fd = -1;  // exited: stop watching
      if (pfd.fd >= 0) ++waiting;
    }
  }
  double waited = std::chrono::duration<double>(Clock::now() - t0).count();

  std::set<pid_t> removed;
  std::vector<ProcessInfo> added;
  char after[64];
  std::snprintf(after, sizeof after, "exiting: still releasing its files after %.1f s", waited);
  w.held.clear();
  for (std::size_t i : exiting) {
    ProcessInfo& old = snap.processes[i];
    std::string name = std::to_string(old.pid);
    w.processes.clear();
    w.scan_pid(snap.procfd->get(), old.pid, name.c_str());
    bool same = false;
    for (auto& p : w.processes) {
      if (p.pid == old.pid && p.starttime == old.starttime) {
        same = true;
        if (p.exiting) p.uninspectable_reason = after;
        old = std::move(p);
      } else {
        added.push_back(std::move(p));  // the pid was reused meanwhile
      }
    }
    if (!same) removed.insert(old.pid);
  }
  w.processes.clear();
  std::erase_if(snap.processes, [&](const ProcessInfo& p) {
    return p.exiting && removed.count(p.pid) && p.uninspectable_reason == "exiting";
  });
  for (auto& [id, list] : snap.holders)
    std::erase_if(list, [&](const Holding& h) { return removed.count(h.pid) > 0; });
  index_holdings(w.held, snap.holders);
  for (auto& p : added) snap.processes.push_back(std::move(p));
  std::stable_sort(snap.processes.begin(), snap.processes.end(),
                   [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; });
}

}  // namespace

void settle_exiting(Snapshot& snap, const ScanOptions& options, const std::set<pid_t>& pids) {
  if (!snap.procfd || pids.empty()) return;
  Worker w;
  w.options = &options;
  w.self = self_creds();
  // As scan_proc: the unlinked_devs too, so a re-read process's unlinked-but-held files there
  // are reported as they would have been by the scan.
  std::unordered_set<dev_t> devs = watched_devices(options);
  devs.insert(options.unlinked_devs.begin(), options.unlinked_devs.end());
  w.watch_devs = DevSet::of(devs);
  wait_for_exiting(snap, options, w, pids);
  for (auto& [id, list] : snap.holders)
    std::sort(list.begin(), list.end(), [](const Holding& a, const Holding& b) {
      return a.pid != b.pid ? a.pid < b.pid : a.kind < b.kind;
    });
}

Snapshot scan_proc(const ScanOptions& options) {
  auto procfd = std::make_shared<UniqueFd>(
      ::open(options.proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!procfd->valid())
    throw std::system_error(errno, std::generic_category(), "cannot open " + options.proc_root);
  const int proc = procfd->get();
  Snapshot snap;
  snap.procfd = procfd;
  snap.taken_at_ticks = now_in_ticks();
  snap.others_hidden = options.watching() && proc_hides_others(options.proc_root);

  const bool converge = options.converge;
  unsigned long long forks = converge ? forks_since_boot(proc) : 0;
  auto pids = list_pids(proc, options.proc_root);

  std::unordered_set<dev_t> watch_devs = watched_devices(options);
  watch_devs.insert(options.unlinked_devs.begin(), options.unlinked_devs.end());

  unsigned nthreads = std::max(
      1u, std::min<unsigned>(options.threads, static_cast<unsigned>(pids.size() / 64 + 1)));
  SelfCreds self;
  {
    std::string buf;
    if (util::read_file_at(AT_FDCWD, "/proc/self/status", buf) == 0)
      if (auto st = parse_status(buf)) self.cap_prm = st->cap_prm;
  }
  std::vector<Worker> workers(nthreads);
  for (auto& w : workers) {
    w.self = self;
    w.options = &options;
    w.watch_devs = DevSet::of(watch_devs);
    w.processes.reserve(pids.size() / nthreads + 16);  // no regrowth, each a move of all
  }
  // Shared work: each thread takes the next few pids when it is done with its last ones, so
  // a thread slowed by a process with many fds or mappings (or by the machine's other load)
  // does not leave the other idle at the end, as a fixed split would.
  constexpr std::size_t kBatch = 4;
  std::atomic<std::size_t> next{0};
  auto run = [&](unsigned index) {
    for (;;) {
      std::size_t first = next.fetch_add(kBatch, std::memory_order_relaxed);
      if (first >= pids.size()) break;
      std::size_t last = std::min(pids.size(), first + kBatch);
      for (std::size_t i = first; i < last; ++i)
        workers[index].scan_pid(proc, pids[i].first, pids[i].second.c_str());
    }
  };
  if (nthreads == 1) {
    run(0);
  } else {
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < nthreads; ++t) threads.emplace_back(run, t);
    run(0);
    for (auto& t : threads) t.join();
  }
  Worker& late = workers[0];  // scans what the re-listings and the exiting wait add

  // Convergence: a process created while /proc was being read was not in the listing. If
  // the fork counter moved, list again and scan every (pid, start time) not seen, until a
  // listing finds no process created since the one before. A holder that handed its fd to a
  // child by fork and closed its own copy before it was read is then seen in the child.
  // (pid, start time) of entries whose pid now names another process: the first is dead.
  std::set<std::pair<pid_t, unsigned long long>> replaced;
  if (converge) {
    std::map<pid_t, unsigned long long> seen;
    for (auto& w : workers)
      for (auto& [pid, start] : w.seen) seen[pid] = start;
    const long space = pid_max(proc) - 300;
    bool quiet = false;
    for (int round = 0; round < kMaxRelists && !quiet; ++round) {
      // Fast path: no fork anywhere since the last listing, so nothing new can be there.
      unsigned long long now = forks_since_boot(proc);
      if (now != 0 && now == forks) {
        quiet = true;
        break;
      }
      // A pid can name a new process only after the allocator wrapped around the pid space
      // (or after a privileged write to ns_last_pid): re-read start times only if it could
      // have, judging by how many forks happened (or when the counter is unreadable).
      bool wrap_possible =
          now == 0 || forks == 0 ||
          static_cast<long long>(now - forks) * 2 >= space - static_cast<long long>(seen.size());
      forks = now;
      ++snap.relists;
      quiet = true;  // unless this listing shows a process not read yet
      for (const auto& [pid, name] : list_pids(proc, options.proc_root)) {
        auto it = seen.find(pid);
        if (it != seen.end() && !wrap_possible) continue;
        if (it != seen.end()) {
          auto start = read_starttime(options.proc_root, pid);
          if (!start || *start == it->second) continue;
          replaced.insert({pid, it->second});
        }
        quiet = false;
        late.seen.clear();
        late.scan_pid(proc, pid, name.c_str());
        seen[pid] = late.seen.empty() ? 0 : late.seen.back().second;
      }
    }
    if (!quiet) {
      // Processes kept appearing: some process alive now may never have been read. Fail
      // closed: stands for any of them, so nothing they could hold is judged unheld.
      ProcessInfo storm;
      storm.pid = 0;
      storm.comm = "processes created during the scan";
      storm.inspected = false;
      storm.uninspectable_reason = "new processes kept appearing while /proc was read (" +
                                   std::to_string(kMaxRelists) + " re-listings)";
      late.processes.push_back(std::move(storm));
    }
  }

  std::size_t total = 0;
  for (auto& w : workers) total += w.processes.size();
  snap.processes.reserve(total + 1);
  std::vector<std::size_t> runs;  // where each worker's share starts in snap.processes
  for (auto& w : workers) {
    snap.unreadable += w.unreadable;
    if (w.unreadable) snap.unreadable_reason = std::strerror(w.last_unreadable_errno);
    runs.push_back(snap.processes.size());
    std::move(w.processes.begin(), w.processes.end(), std::back_inserter(snap.processes));
    std::move(w.unlinked.begin(), w.unlinked.end(), std::back_inserter(snap.unlinked));
  }
  std::vector<std::pair<DevIno, Holding>> held;
  for (auto& w : workers) {
    if (held.empty())
      held = std::move(w.held);
    else
      held.insert(held.end(), w.held.begin(), w.held.end());
  }
  index_holdings(held, snap.holders);
  if (!replaced.empty()) {
    // Drop the dead process's entry. Its holdings stay: a dead holder only keeps a segment.
    std::erase_if(snap.processes, [&](const ProcessInfo& p) {
      return replaced.count({p.pid, p.starttime}) > 0;
    });
  }
  if (snap.others_hidden) {
    // Stands for every process hidepid keeps out of the listing: any uid but ours.
    ProcessInfo hidden;
    hidden.pid = 0;
    hidden.comm = "processes of other users";
    hidden.inspected = false;
    hidden.uninspectable_reason = "hidden by hidepid=invisible on " + options.proc_root;
    hidden.owner_hint = static_cast<uid_t>(-1);
    runs.push_back(snap.processes.size());
    snap.processes.push_back(std::move(hidden));
  }
  // Sorted by pid, stably. Each worker's share is in pid order when no re-listing added to
  // it (pids are taken in order): then merging the shares, left to right, gives what a
  // stable sort of them all gives, with a move or two per entry instead of n log n.
  auto by_pid = [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; };
  runs.push_back(snap.processes.size());
  auto at = [&](std::size_t i) { return snap.processes.begin() + static_cast<std::ptrdiff_t>(i); };
  bool shares_sorted = replaced.empty();  // (the erase above moved the shares' bounds)
  for (std::size_t r = 0; r + 1 < runs.size(); ++r)
    shares_sorted = shares_sorted && std::is_sorted(at(runs[r]), at(runs[r + 1]), by_pid);
  if (shares_sorted) {
    for (std::size_t r = 1; r + 1 < runs.size(); ++r)
      std::inplace_merge(at(0), at(runs[r]), at(runs[r + 1]), by_pid);
  } else {
    std::stable_sort(snap.processes.begin(), snap.processes.end(), by_pid);
  }
  std::sort(snap.unlinked.begin(), snap.unlinked.end(),
            [](const UnlinkedHolding& a, const UnlinkedHolding& b) {
              return a.pid != b.pid ? a.pid < b.pid : a.id.ino < b.id.ino;
            });
  return snap;  // (index_holdings left each identity's holdings sorted by pid and kind)
}

}  // namespace reap::os

namespace reap::os {

bool proc_hides_others(const std::string& proc_root) {
  if (::geteuid() == 0) return false;  // root passes the ptrace-read check hidepid applies
  struct stat want;
  if (::stat(proc_root.c_str(), &want) != 0) return false;
  std::string text;
  if (util::read_file_at(AT_FDCWD, "/proc/self/mountinfo", text)) return false;
  // Fields: id parent maj:min root mountpoint options [optional...] - fstype source super
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    auto dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::string_view tail = line.substr(dash + 3);
    if (tail.substr(0, 5) != "proc ") continue;
    // The mount point is field 5; compare by identity rather than by (escaped) path.
    std::string_view head = line.substr(0, dash);
    std::size_t f = 0;
    for (int i = 0; i < 4 && f != std::string_view::npos; ++i) f = head.find(' ', f + 1);
    if (f == std::string_view::npos) continue;
    std::string_view rest = head.substr(f + 1);
    std::string mountpoint(rest.substr(0, rest.find(' ')));
    struct stat st;
    if (::stat(mountpoint.c_str(), &st) != 0 || st.st_dev != want.st_dev) continue;
    auto opt = tail.find("hidepid=");
    if (opt == std::string_view::npos) return false;
    std::string_view value = tail.substr(opt + 8);
    value = value.substr(0, value.find_first_of(", \n"));
    if (value != "2" && value != "invisible") return false;
    auto gid_opt = tail.find("gid=");
    if (gid_opt != std::string_view::npos) {
      gid_t exempt = static_cast<gid_t>(
          std::strtoul(std::string(tail.substr(gid_opt + 4)).c_str(), nullptr, 10));
      if (::getegid() == exempt) return false;
      gid_t groups[256];
      int n = ::getgroups(256, groups);
      for (int i = 0; i < n; ++i)
        if (groups[i] == exempt) return false;
    }
    return true;
  }
  return false;
}

}  // namespace reap::os
