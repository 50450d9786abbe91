#include "cli/sweeps.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "cli/app.hpp"
#include "core/shm_policy.hpp"
#include "core/sysv_policy.hpp"
#include "core/uds_policy.hpp"
#include "os/shm_dir.hpp"
#include "os/sock_diag.hpp"
#include "os/sysvipc.hpp"
#include "util/escape.hpp"
#include "util/fd.hpp"

namespace reap::cli {
namespace {

constexpr long kMqueueMagic = 0x19800202;

core::SweepVerdictWord outcome_word(const os::UnlinkOutcome& o, std::string& reason) {
  switch (o.result) {
    case os::UnlinkResult::Unlinked:
      return core::SweepVerdictWord::Removed;
    case os::UnlinkResult::AlreadyGone:
      reason = "already gone";
      return core::SweepVerdictWord::Removed;
    case os::UnlinkResult::Replaced:
      reason = "replaced by another file since the scan; left alone";
      return core::SweepVerdictWord::Kept;
    case os::UnlinkResult::Failed:
      break;
  }
  reason = fmt::format("unlink failed: {}", std::strerror(o.err));
  return core::SweepVerdictWord::Error;
}

/// What the uds, mqueue and sysv sweeps share: their items (core::SweepItem), how they are
/// held back and how they are reported.
class ItemSweep : public core::Sweep {
 public:
  void hold_back(pid_t holder, const std::string& reason) override {
    for (auto& item : items_)
      if (item.verdict == core::SweepVerdict::Remove) {
        item.verdict = core::SweepVerdict::Kept;
        item.holder = holder;
        item.reason = reason;
      }
  }
  void report(const os::Snapshot&, bool dry_run, core::Report& out) override {
    for (auto& i : items_) {  // the outcome of what was not acted on
      if (i.verdict == core::SweepVerdict::Remove) {
        if (dry_run) i.outcome = core::SweepVerdictWord::WouldRemove;
      } else {
        i.outcome = i.verdict == core::SweepVerdict::Skipped ? core::SweepVerdictWord::Skipped
                                                             : core::SweepVerdictWord::Kept;
      }
    }
    out.sweeps.push_back({kind(), {source()}, note_, std::move(items_)});
    items_.clear();
  }

 protected:
  /// The directory or table it reads, as the report names it.
  virtual std::string source() const = 0;
  /// Removes each item the plan says, with `remove(i)` (a re-checked removal of item i).
  template <class Remove>
  bool act_with(Remove remove) {
    bool attempted = false;
    for (std::size_t i = 0; i < items_.size(); ++i) {
      auto& item = items_[i];
      if (item.verdict != core::SweepVerdict::Remove) continue;
      attempted = true;
      std::string reason;
      item.outcome = remove(i, reason);
      if (!reason.empty()) item.reason = reason;
    }
    return attempted;
  }

  std::string note_;  ///< e.g. "not mounted: nothing to do"
  std::vector<core::SweepItem> items_;
};

/// A directory of files of one type (socket files, queues), held open by fd and listed
/// before the scan; under `reap run`, what was there before the command is left out.
class DirSweep : public ItemSweep {
 public:
  bool needs_scan() const override { return open_; }
  bool act() override {
    return act_with([&](std::size_t i, std::string& reason) {
      return outcome_word(dir_.unlink_if_same(items_[i].name, ids_[i], type_), reason);
    });
  }

 protected:
  DirSweep(std::string dir, bool explicit_dir, const ExtraPreexisting* scope, const char* flag,
           mode_t type)
      : path_(std::move(dir)), explicit_(explicit_dir), scope_(scope), flag_(flag), type_(type) {}
  std::string source() const override { return path_; }
  /// Opens and lists the directory (refusals name the sweep's own flag).
  void open_and_list() {
    std::string error;
    if (!dir_.open(path_, error)) {
      if (error.rfind("--shm-dir", 0) == 0) error.replace(0, 9, flag_);
      throw Refusal(error);
    }
    open_ = true;
    entries_ = dir_.list();
    if (scope_)
      std::erase_if(entries_, [&](const os::DirEntry& e) {
        return scope_->files.count(os::identity(e.st)) > 0;
      });
    ids_.clear();
    for (const auto& e : entries_) ids_.push_back(os::identity(e.st));
  }

  std::string path_;
  bool explicit_;
  const ExtraPreexisting* scope_;
  const char* flag_;
  mode_t type_;
  bool open_ = false;
  os::ShmDir dir_;
  std::vector<os::DirEntry> entries_;
  std::vector<os::DevIno> ids_;  ///< of entries_, in order: the plans keep listing order
};

/// One directory of socket files.
class UdsSweep : public DirSweep {
 public:
  UdsSweep(std::string dir, bool explicit_dir, const ExtraPreexisting* scope, std::string proc)
      : DirSweep(std::move(dir), explicit_dir, scope, "--uds-dir", S_IFSOCK),
        proc_(std::move(proc)) {}
  const char* kind() const override { return "uds"; }
  const char* objects() const override { return "socket files"; }

  void list() override {
    struct stat st;
    if (!explicit_ && ::lstat(path_.c_str(), &st) != 0 && errno == ENOENT) {
      note_ = "no such directory: nothing to do";
      return;
    }
    open_and_list();
  }
  void watch(os::ScanOptions&) const override {}  // the kernel's socket table decides
  void plan(const os::Snapshot& snap, const core::SweepContext& context) override {
    if (!open_) return;
    // The socket table is read now, not at the scan: sock_diag answers for the present.
    auto survey = os::survey_unix_sockets(snap, proc_);
    items_ = core::plan_uds(entries_, survey, context, pid_alive);
  }

 private:
  std::string proc_;
};

/// The mounted mqueue file system: queues are its regular files, and an open queue shows in
/// the holder's fd table with the queue's identity, so the shm policy decides for it (and
/// fails closed on the processes reap could not inspect, as for shm).
class MqueueSweep : public DirSweep {
 public:
  MqueueSweep(std::string dir, bool explicit_dir, const ExtraPreexisting* scope)
      : DirSweep(std::move(dir), explicit_dir, scope, "--mqueue-dir", S_IFREG) {}
  const char* kind() const override { return "mqueue"; }
  const char* objects() const override { return "queues"; }

  void list() override {
    struct statfs fs {};
    int err = ::statfs(path_.c_str(), &fs) == 0 ? 0 : errno;
    if (err || fs.f_type != kMqueueMagic) {
      if (!explicit_) {
        note_ = "no mqueue file system is mounted there: nothing to do (reap mounts nothing)";
        return;
      }
      throw Refusal(fmt::format("--mqueue-dir {}: {}", util::escape_for_terminal(path_),
                                err ? std::strerror(err) : "not a mounted mqueue file system"));
    }
    open_and_list();
  }
  void watch(os::ScanOptions& scan) const override {
    if (!open_) return;
    scan.unlinked_devs.insert(dir_.dev());
    for (const auto& e : entries_)
      if (!e.stat_errno && S_ISREG(e.st.st_mode)) scan.watch.insert(os::identity(e.st));
  }
  void plan(const os::Snapshot& snap, const core::SweepContext& context) override {
    if (!open_) return;
    auto policy = core::shm_policy_for(context);
    items_.clear();
    for (auto& p : core::plan_shm(entries_, snap, policy)) {
      core::SweepItem item;
      item.verdict = p.verdict == core::ShmVerdict::Unlink ? core::SweepVerdict::Remove
                     : p.verdict == core::ShmVerdict::Kept ? core::SweepVerdict::Kept
                                                           : core::SweepVerdict::Skipped;
      item.reason =
          p.verdict == core::ShmVerdict::Unlink ? "no process has it open" : std::move(p.reason);
      item.holder = p.holder;
      item.uid = p.uid;
      item.size = static_cast<unsigned long long>(p.size);
      item.likely = core::attribute(p.name, pid_alive);
      item.name = std::move(p.name);
      items_.push_back(std::move(item));
    }
    blockers_ = core::blocker_pids(entries_, snap, policy);
  }
  std::set<pid_t> exiting_holders(const os::Snapshot& snap) const override {
    std::set<pid_t> exiting;
    for (const auto& item : items_)
      if (item.verdict == core::SweepVerdict::Kept)
        core::add_if_exiting(snap, item.holder, exiting);
    return exiting;
  }
  bool judges_uninspectable() const override { return open_; }
  void blockers(std::set<pid_t>& out) const override {
    out.insert(blockers_.begin(), blockers_.end());
  }
  void report(const os::Snapshot& snap, bool dry_run, core::Report& out) override {
    ItemSweep::report(snap, dry_run, out);
    if (open_) append_unlinked(snap, dir_.dev(), "mqueue", out);
  }

 private:
  std::set<pid_t> blockers_;
};

class SysvSweep : public ItemSweep {
 public:
  explicit SysvSweep(const ExtraPreexisting* scope) : scope_(scope) {}
  const char* kind() const override { return "sysv"; }
  const char* objects() const override { return "segments"; }
  void list() override {
    if (int err = os::read_sysv_shm(segments_)) {
      if (err == ENOENT) {
        note_ = "no /proc/sysvipc/shm (a kernel without SysV IPC): nothing to do";
        return;
      }
      throw Refusal(fmt::format("/proc/sysvipc/shm: {}", std::strerror(err)));
    }
    if (scope_)
      std::erase_if(segments_, [&](const os::SysvShmSegment& s) {
        return scope_->sysv.count({s.shmid, s.ctime}) > 0;
      });
  }
  /// Its facts are the kernel's (nattch, creator and last-attach pids, checked by kill(0)
  /// at plan time): no /proc scan.
  bool needs_scan() const override { return false; }
  void watch(os::ScanOptions&) const override {}
  void plan(const os::Snapshot&, const core::SweepContext& context) override {
    items_ = core::plan_sysv(segments_, context, pid_alive);
    std::erase_if(segments_, [&](const os::SysvShmSegment& s) {
      return s.uid != context.uid && s.cuid != context.uid;
    });
  }
  bool act() override {
    return act_with([&](std::size_t i, std::string& reason) {
      auto out = os::rmid_if_same(segments_[i]);
      switch (out.result) {
        case os::RmidResult::Removed:
          return core::SweepVerdictWord::Removed;
        case os::RmidResult::AlreadyGone:
          reason = "already gone";
          return core::SweepVerdictWord::Removed;
        case os::RmidResult::Changed:
          reason = "changed since the scan (attached, marked or replaced); left alone";
          return core::SweepVerdictWord::Kept;
        case os::RmidResult::Failed:
          break;
      }
      reason = fmt::format("IPC_RMID failed: {}", std::strerror(out.err));
      return core::SweepVerdictWord::Error;
    });
  }

 protected:
  std::string source() const override { return "/proc/sysvipc/shm"; }

 private:
  const ExtraPreexisting* scope_;
  std::vector<os::SysvShmSegment> segments_;
};

}  // namespace

bool pid_alive(pid_t pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  // A zombie has exited: it holds nothing and will create nothing.
  std::string stat;
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  if (util::read_file_at(AT_FDCWD, path.c_str(), stat) == 0) {
    auto paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() &&
        (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X'))
      return false;
  }
  return true;
}

std::string default_uds_dir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return std::string(xdg) + "/tractor";
  return "/tmp/tractor-" + std::to_string(::getuid());
}

std::vector<std::unique_ptr<core::Sweep>> make_extra_sweeps(const Options& o,
                                                            const ExtraPreexisting* scope) {
  std::vector<std::unique_ptr<core::Sweep>> sweeps;
  if (o.uds || o.uds_only) {
    if (o.uds_dirs.empty())
      sweeps.push_back(std::make_unique<UdsSweep>(default_uds_dir(), false, scope, o.proc_root));
    for (const auto& d : o.uds_dirs)
      sweeps.push_back(std::make_unique<UdsSweep>(d, true, scope, o.proc_root));
  }
  if (o.mqueue)
    sweeps.push_back(std::make_unique<MqueueSweep>(o.mqueue_dir.value_or("/dev/mqueue"),
                                                   o.mqueue_dir.has_value(), scope));
  if (o.sysv) sweeps.push_back(std::make_unique<SysvSweep>(scope));
  return sweeps;
}

ExtraPreexisting snapshot_extra(const Options& o) {
  ExtraPreexisting pre;
  std::vector<std::string> dirs = o.uds_dirs;
  if ((o.uds || o.uds_only) && dirs.empty()) dirs.push_back(default_uds_dir());
  if (o.mqueue) dirs.push_back(o.mqueue_dir.value_or("/dev/mqueue"));
  for (const auto& d : dirs) {
    os::ShmDir dir;
    std::string error;
    if (!dir.open(d, error)) continue;  // refused (or absent) at the pass itself
    for (const auto& e : dir.list()) pre.files.insert(os::identity(e.st));
  }
  if (o.sysv) {
    std::vector<os::SysvShmSegment> segs;
    if (os::read_sysv_shm(segs) == 0)
      for (const auto& s : segs) pre.sysv.insert({s.shmid, s.ctime});
  }
  return pre;
}

void append_unlinked(const os::Snapshot& snap, dev_t dev, const char* kind, core::Report& out) {
  for (const auto& u : snap.unlinked) {
    if (u.id.dev != dev) continue;
    core::UnlinkedItem item{kind, u.pid, "?", u.kind == os::HoldKind::Mmap,
                            static_cast<unsigned long long>(u.size)};
    if (const auto* p = snap.find(u.pid)) item.comm = p->comm;
    out.unlinked.push_back(std::move(item));
  }
}

unsigned scan_threads(const Options& o, bool holders) {
  if (o.threads) return o.threads;
  if (!holders) return 1;
  return std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
}

}  // namespace reap::cli
