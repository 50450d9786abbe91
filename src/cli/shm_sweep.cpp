// The shm sweep on the one Sweep shape (core/sweep.hpp): the sweep directory held open by fd
// (os/shm_dir) bound to the shm policy (core/shm_policy). Its report lines are
// core::ShmReportItem (Report::shm), kept apart from the other kinds for the JSON schema
// and the tractor-reap front.
#include <sys/stat.h>

#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "cli/app.hpp"
#include "cli/sweeps.hpp"
#include "core/report.hpp"
#include "core/shm_policy.hpp"
#include "os/shm_dir.hpp"
#include "util/escape.hpp"
#include "util/parallel.hpp"

namespace reap::cli {
namespace {

/// Opens the sweep directory, refusing (exit 2) what is not a memory filesystem unless
/// --allow-any-fs says otherwise: a sweep elsewhere could delete ordinary files.
void open_sweep_dir(const Options& o, os::ShmDir& dir) {
  std::string error;
  if (!dir.open(o.shm_dir, error)) throw Refusal(error);
  std::string fs;
  if (!o.allow_any_fs && !dir.on_memory_fs(fs))
    throw Refusal(fmt::format(
        "--shm-dir {}: not a memory filesystem ({}); POSIX shm lives on tmpfs, and a sweep "
        "elsewhere could delete ordinary files (--allow-any-fs overrides)",
        util::escape_for_terminal(o.shm_dir), fs));
}

/// Above this many candidates the holder index watches the sweep directory's device rather
/// than a set of identities (memory; below it the set is cheaper for the unlinked report,
/// which then needs no second statx per held fd there).
constexpr std::size_t kWatchByDeviceAbove = 65536;

/// A candidate: a regular file of the owner (the only entries the holder index must watch).
bool candidate(const os::DirEntry& e, uid_t uid) {
  return !e.stat_errno && S_ISREG(e.st.st_mode) && e.st.st_uid == uid;
}

class ShmSweep : public core::Sweep {
 public:
  ShmSweep(const Options& o, const RunScope* scope) : o_(o), scope_(scope) {}
  const char* kind() const override { return "shm"; }
  const char* objects() const override { return "segments"; }

  void list() override {
    if (!(scope_ && scope_->dir)) open_sweep_dir(o_, own_dir_);
    relist();
  }
  void relist() override {
    entries_ = dir()->list(scan_threads(o_, true));
    if (scope_)  // `reap run`: only what appeared during the run is its leak
      std::erase_if(entries_, [&](const os::DirEntry& e) {
        return scope_->preexisting.count(os::identity(e.st)) > 0;
      });
  }
  bool needs_scan() const override {
    for (const auto& e : entries_)
      if (candidate(e, o_.uid)) return true;
    return false;
  }
  void watch(os::ScanOptions& scan) const override {
    const dev_t dev = dir()->dev();
    std::size_t n = 0;
    for (const auto& e : entries_) n += candidate(e, o_.uid);
    // A large listing is watched by device (every held file there is recorded) instead of a
    // set of every candidate's identity: at 1,000,000 segments that set alone is ~45 MB.
    // (A file mounted over an entry is on another device: watched by identity still.)
    const bool by_device = n > kWatchByDeviceAbove;
    if (by_device) scan.watch_all_on.insert(dev);
    for (const auto& e : entries_)
      if (candidate(e, o_.uid) && !(by_device && e.st.st_dev == dev))
        scan.watch.insert(os::identity(e.st));
    scan.unlinked_devs.insert(dev);
  }
  void plan(const os::Snapshot& snap, const core::SweepContext& context) override {
    auto policy = core::shm_policy_for(context);
    plan_ = core::plan_shm(entries_, snap, policy);
    // Who blocks what is worked out while the listing is still here (it is let go before
    // the report is made: a sweep of 100,000 entries should not hold the listing, the plan
    // and the report all at once).
    blockers_ = core::blocker_pids(entries_, snap, policy);
  }
  /// A process that is exiting (freeing a large address space, say) may refuse to show its
  /// files for a moment; where one keeps a segment, the flow waits for it and plans again.
  std::set<pid_t> exiting_holders(const os::Snapshot& snap) const override {
    std::set<pid_t> exiting;
    for (const auto& item : plan_)
      if (item.verdict == core::ShmVerdict::Kept) core::add_if_exiting(snap, item.holder, exiting);
    return exiting;
  }
  bool judges_uninspectable() const override { return true; }
  void blockers(std::set<pid_t>& out) const override {
    out.insert(blockers_.begin(), blockers_.end());
  }
  void hold_back(pid_t holder, const std::string& reason) override {
    for (auto& item : plan_)
      if (item.verdict == core::ShmVerdict::Unlink) {
        item.verdict = core::ShmVerdict::Kept;
        item.holder = holder;
        item.reason = reason;
      }
  }
  bool act() override {
    release_listing();
    // Each re-check and unlink is independent of the others. (Unlinks in one directory
    // serialise on its lock in the kernel; the re-checks overlap with them.)
    outcomes_.resize(plan_.size());
    util::parallel_for(plan_.size(), scan_threads(o_, true), [&](std::size_t i) {
      if (plan_[i].verdict == core::ShmVerdict::Unlink)
        outcomes_[i] = dir()->unlink_if_same(plan_[i].name, plan_[i].id);
    });
    for (const auto& out : outcomes_)
      if (out) return true;
    return false;
  }
  void report(const os::Snapshot& snap, bool dry_run, core::Report& out) override {
    release_listing();
    static const std::optional<os::UnlinkOutcome> kNotActed;
    out.shm.reserve(out.shm.size() + plan_.size());
    for (std::size_t i = 0; i < plan_.size(); ++i) {
      auto item = core::describe_shm(std::move(plan_[i]), dry_run,
                                     i < outcomes_.size() ? outcomes_[i] : kNotActed);
      item.likely = core::attribute(item.name, pid_alive);
      out.shm.push_back(std::move(item));
    }
    std::vector<core::ShmPlanItem>().swap(plan_);
    std::vector<std::optional<os::UnlinkOutcome>>().swap(outcomes_);
    append_unlinked(snap, dir()->dev(), "shm", out);
  }

 private:
  const os::ShmDir* dir() const {
    return scope_ && scope_->dir ? scope_->dir : &own_dir_;  // `reap run` opened it before CMD
  }
  void release_listing() { std::vector<os::DirEntry>().swap(entries_); }

  const Options& o_;
  const RunScope* scope_;
  os::ShmDir own_dir_;
  std::vector<os::DirEntry> entries_;
  std::vector<core::ShmPlanItem> plan_;
  std::set<pid_t> blockers_;
  std::vector<std::optional<os::UnlinkOutcome>> outcomes_;
};

}  // namespace

void open_run_sweep_dir(const Options& o, os::ShmDir& dir) {
  open_sweep_dir(o, dir);
}

std::unique_ptr<core::Sweep> make_shm_sweep(const Options& o, const RunScope* scope) {
  return std::make_unique<ShmSweep>(o, scope);
}

}  // namespace reap::cli
