#include "os/proc_scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include "os/maps_query.hpp"
#include "os/pidfd.hpp"
#include "os/proc_parse.hpp"
#include "util/fd.hpp"

namespace reap::os {
namespace {

using util::UniqueFd;

bool gone(int err) {
  return err == ENOENT || err == ESRCH;
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
      struct Dirent64 {
        ino64_t d_ino;
        off64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[1];
      };
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      fn(name, d->d_type);
    }
  }
}

/// Reads /proc/PID/status into `p` (uids, gids, groups, SigIgn, CapPrm).
bool read_status_into(int piddir, ProcessInfo& p, std::string& buf) {
  if (util::read_single_record_at(piddir, "status", buf)) return false;
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

/// What the process phase needs beyond stat: status, cmdline, cwd.
void read_details(int piddir, ProcessInfo& p, std::string& buf) {
  read_status_into(piddir, p, buf);
  if (p.kernel_thread()) return;
  util::read_file_at(piddir, "cmdline", p.cmdline);
  struct stat st;
  if (::fstatat(piddir, "cwd", &st, 0) == 0) p.cwd = DevIno::of(st);
}

/// Per-worker state: buffers reused across processes, and the results of its share.
struct Worker {
  const ScanOptions* options = nullptr;
  SelfCreds self;
  std::size_t unreadable = 0;
  int last_unreadable_errno = 0;
  std::unordered_set<dev_t> watch_devs;
  std::string buf;
  std::vector<ProcessInfo> processes;
  std::unordered_map<DevIno, std::vector<Holding>, DevInoHash> holders;

  void record(const DevIno& id, pid_t pid, HoldKind kind) {
    if (!options->watch.count(id)) return;
    auto& list = holders[id];
    for (const auto& h : list)
      if (h.pid == pid && h.kind == kind) return;
    list.push_back({pid, kind});
  }

  /// Stats every fd in the open fd directory `fddir`. Returns 0 or the errno that made
  /// the table unreadable (EACCES: the fd entries of a non-dumpable or foreign process).
  int scan_fd_dir(int fddir, pid_t pid) {
    int failure = 0;
    int err = for_each_dirent(fddir, [&](const char* name, unsigned char) {
      if (failure) return;
      struct stat st;
      if (::fstatat(fddir, name, &st, 0) != 0) {
        if (errno == ENOENT) return;  // closed meanwhile
        failure = errno;
        return;
      }
      if (!watch_devs.count(st.st_dev)) return;
      record(DevIno::of(st), pid, HoldKind::Fd);
    });
    return failure ? failure : err;
  }

  /// Reads fds (every distinct fd table among the threads) and maps of one process.
  /// Returns 0, or the errno that left something unread.
  int scan_holdings(int base, const char* name, ProcessInfo& p) {
    // Fd tables first, maps last: the usual way to hold a segment is open, mmap, close.
    // Read in this order, a hold that moves from an fd to a mapping mid-scan is seen in
    // one of the two; read the other way round it could slip between them.
    char path[48];
    auto at = [&](const char* leaf) {
      std::snprintf(path, sizeof path, "%s/%s", name, leaf);
      return path;
    };
    UniqueFd fddir(::openat(base, at("fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fddir.valid()) return errno;
    int err = scan_fd_dir(fddir.get(), p.pid);
    if (err) return err;
    if (p.num_threads > 1 && (err = scan_thread_fd_tables(base, at("task"), p))) return err;

    UniqueFd maps(::openat(base, at("maps"), O_RDONLY | O_CLOEXEC));
    if (!maps.valid()) return errno;
    auto on_mapping = [&](const MapsFileRef& ref) {
      if (watch_devs.count(ref.dev)) record(DevIno{ref.dev, ref.ino}, p.pid, HoldKind::Mmap);
    };
    if (options->maps_query) {
      err = query_file_mappings(maps.get(), on_mapping);
      if (err != ENOTTY && err != EINVAL) return err;
    }
    if ((err = util::read_fd(maps.get(), buf))) return err;
    for_each_maps_file(buf, on_mapping);
    return 0;
  }

  /// Reads the fd tables of the threads that do not share the leader's.
  int scan_thread_fd_tables(int base, const char* task_path, const ProcessInfo& p) {
    // A thread may have unshared its fd table (unshare(CLONE_FILES)): /proc/PID/fd shows
    // only the leader's. kcmp(KCMP_FILES) tells whether a task shares the leader's table;
    // where kcmp is unavailable, every task's table is read.
    UniqueFd taskdir(::openat(base, task_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!taskdir.valid()) return errno;
    int failure = 0;
    int err = for_each_dirent(taskdir.get(), [&](const char* name, unsigned char) {
      if (failure) return;
      auto tid = parse_pid(name);
      if (!tid || *tid == p.pid) return;
      if (::syscall(SYS_kcmp, p.pid, *tid, KCMP_FILES, 0, 0) == 0) return;
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
    if (options->watch.empty()) return;  // only the sweep needs to know it exists
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
    if (options->watch.empty()) return;
    ProcessInfo p;
    p.pid = pid;
    p.comm = "?";
    p.inspected = false;
    p.uninspectable_reason = std::string("could not be read: ") + std::strerror(err);
    processes.push_back(std::move(p));
  }

  bool read_status(int piddir, ProcessInfo& p) { return read_status_into(piddir, p, buf); }

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
  /// thread or zombie (holds nothing), or a process reap cannot inspect.
  void classify_unreadable(int err, int piddir, ProcessInfo& p) {
    if (gone(err)) return;
    if (int e = piddir < 0 ? errno : util::read_single_record_at(piddir, "stat", buf)) {
      if (gone(e)) return;  // exited meanwhile
      // Neither gone nor readable (EMFILE, ENOMEM, ...): it may hold anything. Fail closed.
      mark_uninspectable(p, e);
      processes.push_back(std::move(p));
      return;
    }
    auto again = parse_stat(buf);
    if (!again || again->pid != p.pid) return;
    take_stat(p, std::move(*again));
    if (!p.holds_nothing()) {
      if (!p.have_status) read_status(piddir, p);
      mark_uninspectable(p, err);
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

  /// The sweep alone (no process phase): per process only what the holder index needs,
  /// by paths relative to /proc (no directory fd to open and close per process).
  void scan_holdings_only(int procfd, pid_t pid, const char* name) {
    char path[48];
    auto at = [&](const char* leaf) {
      std::snprintf(path, sizeof path, "%s/%s", name, leaf);
      return path;
    };
    ProcessInfo p;
    p.pid = pid;
    if (int err = util::read_single_record_at(procfd, at("stat"), buf)) {
      if (err == EACCES || err == EPERM)
        record_hidden(pid, procfd, name);
      else if (!gone(err))
        record_unknown(pid, err);
      return;
    }
    auto stat = parse_stat(buf);
    if (!stat || stat->pid != pid) return;
    take_stat(p, std::move(*stat));
    if (p.holds_nothing()) return;  // kernel thread or zombie: not needed in the table
    if (int err = scan_holdings(procfd, name, p)) {
      UniqueFd piddir(::openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!piddir.valid() && !gone(errno)) {  // cannot even look again: fail closed
        if (!gone(err)) mark_uninspectable(p, err), processes.push_back(std::move(p));
        return;
      }
      if (piddir.valid()) classify_unreadable(err, piddir.get(), p);
      return;
    }
    processes.push_back(std::move(p));
  }

  void scan_pid(int procfd, pid_t pid, const char* name) {
    if (!options->process_details) return scan_holdings_only(procfd, pid, name);
    std::shared_ptr<UniqueFd> pin;
    if (options->pin) {
      int fd = pidfd_open(pid);
      if (fd < 0 && errno == ESRCH) return;               // vanished
      if (fd >= 0) pin = std::make_shared<UniqueFd>(fd);  // else (EMFILE...) unpinned
    }
    auto piddir =
        std::make_shared<UniqueFd>(::openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!piddir->valid()) {
      if (errno == EACCES || errno == EPERM)
        record_hidden(pid, procfd, name);
      else if (!gone(errno))
        record_unknown(pid, errno);
      return;  // else vanished
    }
    if (int err = util::read_single_record_at(piddir->get(), "stat", buf)) {
      // hidepid=1 ("noaccess"): the directory is listed but nothing in it can be read.
      if (err == EACCES || err == EPERM)
        record_hidden(pid, piddir->get(), ".");
      else if (!gone(err))
        record_unknown(pid, err);
      return;
    }
    auto stat = parse_stat(buf);
    if (!stat || stat->pid != pid) return;
    ProcessInfo p;
    p.pid = pid;
    p.pidfd = std::move(pin);
    take_stat(p, std::move(*stat));

    if (options->defer_details) {
      p.status_read = p.cmdline_read = p.cwd_read = false;
      p.dir = piddir;  // Snapshot::status_of & co. read through it, if the policy asks
    } else {
      read_details(piddir->get(), p, buf);
    }

    if (!options->watch.empty() && !p.holds_nothing()) {
      if (int err = scan_holdings(piddir->get(), ".", p)) {
        classify_unreadable(err, piddir->get(), p);
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

// The snapshot owns its processes; the lazily read fields are filled in place, once.
const ProcessInfo& Snapshot::status_of(const ProcessInfo& p) const {
  if (!p.status_read && p.dir && p.dir->valid()) {
    std::string buf;
    auto& m = const_cast<ProcessInfo&>(p);
    m.status_read = true;
    read_status_into(p.dir->get(), m, buf);
  }
  return p;
}

const ProcessInfo& Snapshot::cmdline_of(const ProcessInfo& p) const {
  if (!p.cmdline_read && p.dir && p.dir->valid()) {
    auto& m = const_cast<ProcessInfo&>(p);
    m.cmdline_read = true;
    if (!p.kernel_thread()) util::read_file_at(p.dir->get(), "cmdline", m.cmdline);
  }
  return p;
}

const ProcessInfo& Snapshot::cwd_of(const ProcessInfo& p) const {
  if (!p.cwd_read && p.dir && p.dir->valid()) {
    auto& m = const_cast<ProcessInfo&>(p);
    m.cwd_read = true;
    struct stat st;
    if (!p.kernel_thread() && ::fstatat(p.dir->get(), "cwd", &st, 0) == 0) m.cwd = DevIno::of(st);
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

Snapshot scan_proc(const ScanOptions& options) {
  UniqueFd procfd(::open(options.proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!procfd.valid())
    throw std::system_error(errno, std::generic_category(), "cannot open " + options.proc_root);
  Snapshot snap;
  snap.taken_at_ticks = now_in_ticks();
  snap.others_hidden = !options.watch.empty() && proc_hides_others(options.proc_root);

  std::vector<std::pair<pid_t, std::string>> pids;
  int err = for_each_dirent(procfd.get(), [&](const char* name, unsigned char) {
    if (auto pid = parse_pid(name)) pids.emplace_back(*pid, name);
  });
  if (err)
    throw std::system_error(err, std::generic_category(), "cannot list " + options.proc_root);
  std::sort(pids.begin(), pids.end());

  std::unordered_set<dev_t> watch_devs;
  for (const auto& id : options.watch) watch_devs.insert(id.dev);

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
    w.watch_devs = watch_devs;
  }
  // Interleaved shares keep the per-thread load even (pids are sorted; big processes cluster).
  auto run = [&](unsigned index) {
    for (std::size_t i = index; i < pids.size(); i += nthreads)
      workers[index].scan_pid(procfd.get(), pids[i].first, pids[i].second.c_str());
  };
  if (nthreads == 1) {
    run(0);
  } else {
    std::vector<std::thread> threads;
    for (unsigned t = 1; t < nthreads; ++t) threads.emplace_back(run, t);
    run(0);
    for (auto& t : threads) t.join();
  }

  for (auto& w : workers) {
    snap.unreadable += w.unreadable;
    if (w.unreadable) snap.unreadable_reason = std::strerror(w.last_unreadable_errno);
    std::move(w.processes.begin(), w.processes.end(), std::back_inserter(snap.processes));
    for (auto& [id, list] : w.holders) {
      auto& dst = snap.holders[id];
      dst.insert(dst.end(), list.begin(), list.end());
    }
  }
  if (snap.others_hidden) {
    // Stands for every process hidepid keeps out of the listing: any uid but ours.
    ProcessInfo hidden;
    hidden.pid = 0;
    hidden.comm = "processes of other users";
    hidden.inspected = false;
    hidden.uninspectable_reason = "hidden by hidepid=invisible on " + options.proc_root;
    hidden.owner_hint = static_cast<uid_t>(-1);
    snap.processes.push_back(std::move(hidden));
  }
  std::sort(snap.processes.begin(), snap.processes.end(),
            [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; });
  for (auto& [id, list] : snap.holders)
    std::sort(list.begin(), list.end(), [](const Holding& a, const Holding& b) {
      return a.pid != b.pid ? a.pid < b.pid : a.kind < b.kind;
    });
  return snap;
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
