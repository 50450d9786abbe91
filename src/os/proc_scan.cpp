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
#include <cstring>
#include <system_error>
#include <thread>

#include "os/proc_parse.hpp"
#include "util/fd.hpp"

namespace reap::os {
namespace {

using util::UniqueFd;

bool gone(int err) {
  return err == ENOENT || err == ESRCH;
}

std::string describe_errno(int err) {
  if (err == EACCES || err == EPERM) return "permission denied";
  return std::strerror(err);
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

/// Per-worker state: buffers reused across processes, and the results of its share.
struct Worker {
  const ScanOptions* options = nullptr;
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
  int scan_holdings(int piddir, ProcessInfo& p) {
    int err = util::read_file_at(piddir, "maps", buf);
    if (err) return err;
    for_each_maps_file(buf, [&](const MapsFileRef& ref) {
      if (watch_devs.count(ref.dev)) record(DevIno{ref.dev, ref.ino}, p.pid, HoldKind::Mmap);
    });

    UniqueFd fddir(::openat(piddir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fddir.valid()) return errno;
    if ((err = scan_fd_dir(fddir.get(), p.pid))) return err;
    if (p.num_threads <= 1) return 0;

    // A thread may have unshared its fd table (unshare(CLONE_FILES)): /proc/PID/fd shows
    // only the leader's. kcmp(KCMP_FILES) tells whether a task shares the leader's table;
    // where kcmp is unavailable, every task's table is read.
    UniqueFd taskdir(::openat(piddir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!taskdir.valid()) return errno;
    int failure = 0;
    err = for_each_dirent(taskdir.get(), [&](const char* name, unsigned char) {
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

  bool read_status(int piddir, ProcessInfo& p) {
    if (util::read_file_at(piddir, "status", buf)) return false;
    auto status = parse_status(buf);
    if (!status) return false;
    p.uids = status->uids;
    p.gids = status->gids;
    p.groups = std::move(status->groups);
    p.sig_ign = status->sig_ign;
    p.have_status = true;
    return true;
  }

  void scan_pid(int procfd, pid_t pid, const char* name) {
    UniqueFd piddir(::openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!piddir.valid()) return;  // vanished
    if (util::read_file_at(piddir.get(), "stat", buf)) return;
    auto stat = parse_stat(buf);
    if (!stat || stat->pid != pid) return;
    ProcessInfo p;
    p.pid = pid;
    p.ppid = stat->ppid;
    p.pgrp = stat->pgrp;
    p.session = stat->session;
    p.state = stat->state;
    p.flags = stat->flags;
    p.num_threads = stat->num_threads;
    p.starttime = stat->starttime;
    p.comm = std::move(stat->comm);

    if (options->process_details) {
      if (!read_status(piddir.get(), p) && ::faccessat(piddir.get(), "stat", F_OK, 0) != 0)
        return;  // vanished
      if (!p.kernel_thread()) {
        util::read_file_at(piddir.get(), "cmdline", p.cmdline);
        struct stat st;
        if (::fstatat(piddir.get(), "cwd", &st, 0) == 0) p.cwd = DevIno::of(st);
      }
    }

    if (!options->watch.empty() && !p.holds_nothing()) {
      int err = scan_holdings(piddir.get(), p);
      if (err) {
        // Distinguish "exited meanwhile" from "cannot look": stat stays readable to all.
        if (gone(err) || ::faccessat(piddir.get(), "stat", F_OK, 0) != 0) return;
        if (util::read_file_at(piddir.get(), "stat", buf) == 0) {
          auto again = parse_stat(buf);
          if (again && (again->state == 'Z' || again->state == 'X')) {
            p.state = again->state;
            processes.push_back(std::move(p));
            return;  // became a zombie: holds nothing
          }
        }
        p.inspected = false;
        p.uninspectable_reason = describe_errno(err);
        if (!p.have_status) read_status(piddir.get(), p);
      }
    }
    processes.push_back(std::move(p));
  }
};

}  // namespace

bool ProcessInfo::kernel_thread() const {
  return (flags & kPfKthread) != 0 || pid == 2 || ppid == 2;
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
  std::vector<Worker> workers(nthreads);
  for (auto& w : workers) {
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
    std::move(w.processes.begin(), w.processes.end(), std::back_inserter(snap.processes));
    for (auto& [id, list] : w.holders) {
      auto& dst = snap.holders[id];
      dst.insert(dst.end(), list.begin(), list.end());
    }
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
