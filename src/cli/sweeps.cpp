#include "cli/sweeps.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>

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

/// Fills each item's outcome for a dry run or for items not acted on.
void settle(std::vector<core::SweepItem>& items, bool dry_run) {
  for (auto& i : items) {
    if (i.verdict == core::SweepVerdict::Remove) {
      if (dry_run) i.outcome = core::SweepVerdictWord::WouldRemove;
    } else {
      i.outcome = i.verdict == core::SweepVerdict::Skipped ? core::SweepVerdictWord::Skipped
                                                           : core::SweepVerdictWord::Kept;
    }
  }
}

/// One directory of socket files.
class UdsSweep : public core::Sweep {
 public:
  UdsSweep(std::string dir, bool explicit_dir, const ExtraPreexisting* scope, std::string proc)
      : path_(std::move(dir)), explicit_(explicit_dir), scope_(scope), proc_(std::move(proc)) {}
  const char* kind() const override { return "uds"; }

  void list() override {
    struct stat st;
    if (!explicit_ && ::lstat(path_.c_str(), &st) != 0 && errno == ENOENT) {
      note_ = "no such directory: nothing to do";
      return;
    }
    std::string error;
    if (!dir_.open(path_, error)) {
      if (error.rfind("--shm-dir", 0) == 0) error.replace(0, 9, "--uds-dir");
      throw Refusal(error);
    }
    open_ = true;
    entries_ = dir_.list();
    if (scope_)
      std::erase_if(entries_, [&](const os::DirEntry& e) {
        return scope_->files.count(os::identity(e.st)) > 0;
      });
  }
  void watch(os::ScanOptions&) const override {}
  void plan(const os::Snapshot& snap, const core::SweepContext& context) override {
    if (!open_) return;
    auto survey = os::survey_unix_sockets(snap, proc_);
    items_ = core::plan_uds(entries_, survey, context, pid_alive);
    ids_.clear();
    for (const auto& e : entries_) ids_.push_back(os::identity(e.st));
  }
  void act() override {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      auto& item = items_[i];
      if (item.verdict != core::SweepVerdict::Remove) continue;
      std::string reason;
      item.outcome = outcome_word(dir_.unlink_if_same(item.name, ids_[i], S_IFSOCK), reason);
      if (!reason.empty()) item.reason = reason;
    }
  }
  core::SweepReport report(bool dry_run) override {
    settle(items_, dry_run);
    return {"uds", {path_}, note_, std::move(items_)};
  }

 private:
  std::string path_;
  bool explicit_;
  const ExtraPreexisting* scope_;
  std::string proc_;
  bool open_ = false;
  std::string note_;
  os::ShmDir dir_;
  std::vector<os::DirEntry> entries_;
  std::vector<os::DevIno> ids_;
  std::vector<core::SweepItem> items_;
};

/// The mounted mqueue file system: queues are its regular files, and an open queue shows in
/// the holder's fd table with the queue's identity, so the shm policy decides for it.
class MqueueSweep : public core::Sweep {
 public:
  MqueueSweep(std::string dir, bool explicit_dir, const ExtraPreexisting* scope)
      : path_(std::move(dir)), explicit_(explicit_dir), scope_(scope) {}
  const char* kind() const override { return "mqueue"; }

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
    std::string error;
    if (!dir_.open(path_, error)) {
      if (error.rfind("--shm-dir", 0) == 0) error.replace(0, 9, "--mqueue-dir");
      throw Refusal(error);
    }
    open_ = true;
    entries_ = dir_.list();
    if (scope_)
      std::erase_if(entries_, [&](const os::DirEntry& e) {
        return scope_->files.count(os::identity(e.st)) > 0;
      });
  }
  void watch(os::ScanOptions& scan) const override {
    if (!open_) return;
    scan.unlinked_devs.insert(dir_.dev());
    for (const auto& e : entries_)
      if (!e.stat_errno && S_ISREG(e.st.st_mode)) scan.watch.insert(os::identity(e.st));
  }
  void plan(const os::Snapshot& snap, const core::SweepContext& context) override {
    if (!open_) return;
    core::ShmPolicy policy;
    policy.uid = context.uid;
    policy.min_age = context.min_age;
    policy.now = context.now;
    policy.ignore_uninspectable = context.ignore_uninspectable;
    policy.discounted = context.discounted;
    for (auto& p : core::plan_shm(entries_, snap, policy)) {
      core::SweepItem item;
      item.name = p.name;
      item.verdict = p.verdict == core::ShmVerdict::Unlink ? core::SweepVerdict::Remove
                     : p.verdict == core::ShmVerdict::Kept ? core::SweepVerdict::Kept
                                                           : core::SweepVerdict::Skipped;
      item.reason = p.verdict == core::ShmVerdict::Unlink ? "no process has it open" : p.reason;
      item.holder = p.holder;
      item.uid = p.uid;
      item.size = static_cast<unsigned long long>(p.size);
      item.likely = core::attribute(p.name, pid_alive);
      items_.push_back(std::move(item));
      ids_.push_back(p.id);
    }
  }
  void act() override {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      auto& item = items_[i];
      if (item.verdict != core::SweepVerdict::Remove) continue;
      std::string reason;
      item.outcome = outcome_word(dir_.unlink_if_same(item.name, ids_[i]), reason);
      if (!reason.empty()) item.reason = reason;
    }
  }
  core::SweepReport report(bool dry_run) override {
    settle(items_, dry_run);
    return {"mqueue", {path_}, note_, std::move(items_)};
  }

 private:
  std::string path_;
  bool explicit_;
  const ExtraPreexisting* scope_;
  bool open_ = false;
  std::string note_;
  os::ShmDir dir_;
  std::vector<os::DirEntry> entries_;
  std::vector<os::DevIno> ids_;
  std::vector<core::SweepItem> items_;
};

class SysvSweep : public core::Sweep {
 public:
  explicit SysvSweep(const ExtraPreexisting* scope) : scope_(scope) {}
  const char* kind() const override { return "sysv"; }
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
  void watch(os::ScanOptions&) const override {}
  void plan(const os::Snapshot&, const core::SweepContext& context) override {
    items_ = core::plan_sysv(segments_, context, pid_alive);
    std::erase_if(segments_, [&](const os::SysvShmSegment& s) {
      return s.uid != context.uid && s.cuid != context.uid;
    });
  }
  void act() override {
    for (std::size_t i = 0; i < items_.size(); ++i) {
      auto& item = items_[i];
      if (item.verdict != core::SweepVerdict::Remove) continue;
      auto out = os::rmid_if_same(segments_[i]);
      switch (out.result) {
        case os::RmidResult::Removed:
          item.outcome = core::SweepVerdictWord::Removed;
          break;
        case os::RmidResult::AlreadyGone:
          item.outcome = core::SweepVerdictWord::Removed;
          item.reason = "already gone";
          break;
        case os::RmidResult::Changed:
          item.outcome = core::SweepVerdictWord::Kept;
          item.reason = "changed since the scan (attached, marked or replaced); left alone";
          break;
        case os::RmidResult::Failed:
          item.outcome = core::SweepVerdictWord::Error;
          item.reason = fmt::format("IPC_RMID failed: {}", std::strerror(out.err));
          break;
      }
    }
  }
  core::SweepReport report(bool dry_run) override {
    settle(items_, dry_run);
    return {"sysv", {"/proc/sysvipc/shm"}, note_, std::move(items_)};
  }

 private:
  const ExtraPreexisting* scope_;
  std::string note_;
  std::vector<os::SysvShmSegment> segments_;
  std::vector<core::SweepItem> items_;
};

double wall_now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

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

bool wants_extra_sweeps(const Options& o) {
  return o.uds || o.uds_only || o.mqueue || o.sysv;
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

void list_extra_sweeps(std::vector<std::unique_ptr<core::Sweep>>& sweeps) {
  for (auto& s : sweeps) s->list();
}

void run_extra_sweeps(const Options& o, std::vector<std::unique_ptr<core::Sweep>>& sweeps,
                      const std::set<pid_t>& discounted, core::Report& report) {
  if (sweeps.empty()) return;
  os::ScanOptions scan;
  scan.proc_root = o.proc_root;
  scan.process_details = false;  // the holder index and the process list are enough
  scan.maps_query = !o.maps_text;
  scan.threads = o.threads ? o.threads : 2;
  for (auto& s : sweeps) s->watch(scan);
  os::Snapshot snap = os::scan_proc(scan);
  core::SweepContext context;
  context.uid = o.uid;
  context.discounted = discounted;
  context.ignore_uninspectable = o.ignore_uninspectable;
  context.min_age = o.min_age;
  context.now = wall_now();
  for (auto& s : sweeps) s->plan(snap, context);
  if (!o.dry_run)
    for (auto& s : sweeps) s->act();
  for (auto& s : sweeps) report.sweeps.push_back(s->report(o.dry_run));
  // Files unlinked while still held, on the mqueue file system.
  for (const auto& u : snap.unlinked) {
    core::UnlinkedItem item{"mqueue", u.pid, "?", u.kind == os::HoldKind::Mmap,
                            static_cast<unsigned long long>(u.size)};
    if (const auto* p = snap.find(u.pid)) item.comm = p->comm;
    report.unlinked.push_back(std::move(item));
  }
}

}  // namespace reap::cli
