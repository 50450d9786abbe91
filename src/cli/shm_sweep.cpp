// The shm sweep on the one Sweep shape (core/sweep.hpp): the sweep directory held open by fd
// (os/shm_dir) bound to the shm policy (core/shm_policy). Its report lines are
// core::ShmReportItem (Report::shm), kept apart from the other kinds for the JSON schema
// and the tractor-reap front.
#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <thread>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "cli/app.hpp"
#include "cli/sweeps.hpp"
#include "core/report.hpp"
#include "core/shm_policy.hpp"
#include "os/shm_dir.hpp"
#include "util/clock.hpp"
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

/// Above this many names the sweep judges each entry from one lstat made after the listing
/// began, with no identity known before the /proc scan: in a real sweep right before the
/// entry's unlink (that lstat is the re-check: one system call a segment fewer than an lstat
/// at listing time plus a re-check); in a dry run on a thread of its own while /proc is
/// scanned (up to kPrestatUpTo names; above, after the scan), so the two overlap. Either
/// way no per-entry state is held before the report. The price: the scan cannot be skipped
/// (whose the entries are is unknown until then), the holder index watches the whole device
/// (its maps read as text, where the " (deleted)" marks of the unlinked report come free),
/// and an entry changed since the listing began is kept as too new (ShmPolicy::listed_at).
/// REAP_TEST_JUDGE_LATE_ABOVE=N sets it (a test hook).
std::size_t judge_late_above() {
  if (const char* v = std::getenv("REAP_TEST_JUDGE_LATE_ABOVE"))
    return std::strtoull(v, nullptr, 10);
  return 2048;
}

/// A dry run judged late lstats up to this many entries during the scan (their FileStats
/// are held until the report: 72 B each); a larger one lstats each entry as it reports it.
constexpr std::size_t kPrestatUpTo = 65536;

/// Realtime minus monotonic (both coarse), in nanoseconds: a step of the wall clock moves it.
long long wall_minus_monotonic() {
  struct timespec r, m;
  ::clock_gettime(CLOCK_REALTIME_COARSE, &r);
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &m);
  return util::nanoseconds(r) - util::nanoseconds(m);
}

/// A candidate: a regular file of the owner (the only entries the holder index must watch).
bool candidate(const os::DirEntry& e, uid_t uid) {
  return !e.stat_errno && S_ISREG(e.st.st_mode) && e.st.st_uid == uid;
}

/// Makes `n` report items on `threads` threads, a block at a time, and appends them to `out`
/// in index order: make(i, item) assigns item i whole and returns false to leave it out. One
/// block's items are held besides `out` (a sweep may report 1,000,000). `done(end)` is
/// called after each block with the index after it.
template <class Make, class Done>
void items_in_blocks(std::size_t n, unsigned threads, core::ShmItems& out, Make&& make,
                     Done&& done) {
  // Small enough to stay in cache; the items are made once and overwritten by `make` (every
  // field: it assigns a whole item) block after block.
  constexpr std::size_t kBlock = 4096;
  std::vector<core::ShmReportItem> items;
  std::vector<char> keep;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t m = std::min(kBlock, n - start);
    if (items.size() < m) items.resize(m);
    keep.assign(m, 0);
    util::parallel_for(m, threads, [&](std::size_t k) { keep[k] = make(start + k, items[k]); });
    for (std::size_t k = 0; k < m; ++k)
      if (keep[k]) out.push_back(std::move(items[k]));
    done(start + m);
  }
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
    if (prestat_thread_.joinable()) prestat_thread_.join();  // it reads names_
    prestat_.clear();
    // Before the listing: the clock tmpfs stamps ctime with, and where the wall clock
    // stood against the monotonic one (a step back would move ctimes before this time).
    ::clock_gettime(CLOCK_REALTIME_COARSE, &listed_at_);
    listed_offset_ = wall_minus_monotonic();
    names_ = dir()->list_names();
    late_ = names_.size() > judge_late_above();
    std::vector<os::DirEntry>().swap(entries_);
    if (late_ && o_.dry_run && names_.size() <= kPrestatUpTo) {
      // lstat every entry on a thread of its own while /proc is scanned (plan() joins it).
      prestat_thread_ = std::jthread([this] {
        prestat_.resize(names_.size());  // (there too: zeroing it is not free)
        for (std::size_t i = 0; i < names_.size(); ++i)
          prestat_[i].err = dir()->stat_at(names_.c_str(i), prestat_[i].st);
      });
    }
    if (late_) return;
    entries_ = dir()->lstat_all(std::exchange(names_, os::NameList()), scan_threads(o_, true));
    if (scope_)  // `reap run`: only what appeared during the run is its leak
      std::erase_if(entries_, [&](const os::DirEntry& e) {
        return scope_->preexisting.count(os::identity(e.st)) > 0;
      });
  }
  bool needs_scan() const override {
    if (late_) return !names_.empty();  // whose they are is known only from the late lstat
    for (const auto& e : entries_)
      if (candidate(e, o_.uid)) return true;
    return false;
  }
  void watch(os::ScanOptions& scan) const override {
    const dev_t dev = dir()->dev();
    if (late_) {  // no identity is known before the scan: every held file there is recorded
      scan.watch_all_on.insert(dev);
      scan.unlinked_devs.insert(dev);
      // Any mapping there may be of an unlinked file: the maps text says which (" (deleted)")
      // at no extra read; the binary query would need the text as well.
      scan.maps_query = false;
      return;
    }
    // A listing judged early is small (judge_late_above): a set of its candidates' identities.
    for (const auto& e : entries_)
      if (candidate(e, o_.uid)) scan.watch.insert(os::identity(e.st));
    scan.unlinked_devs.insert(dev);
  }
  void plan(const os::Snapshot& snap, const core::SweepContext& context) override {
    auto policy = core::shm_policy_for(context);
    if (late_) {  // judged entry by entry in act (or report, in a dry run)
      if (prestat_thread_.joinable()) prestat_thread_.join();
      policy.listed_at = listed_at_;
      policy.watched_dev = dir()->dev();  // (watch(): the device, no identities)
      late_policy_ = std::move(policy);
      snap_ = &snap;
      return;
    }
    // core::plan_shm, on the sweep's threads (each verdict is independent of the others).
    const auto uninspectable = core::uninspectable_for(snap, policy);
    plan_.assign(entries_.size(), {});
    util::parallel_for(entries_.size(), scan_threads(o_, true), [&](std::size_t i) {
      const os::DirEntry& e = entries_[i];
      plan_[i] = core::judge_shm(e.name, e.st, e.stat_errno, snap, policy, uninspectable);
    });
    // Who blocks what is worked out while the listing is still here (it is let go before
    // the report is made: a sweep of 100,000 entries should not hold the listing, the plan
    // and the report all at once).
    blockers_ = core::blocker_pids(entries_, snap, policy);
  }
  /// A process that is exiting (freeing a large address space, say) may refuse to show its
  /// files for a moment; where one keeps a segment, the flow waits for it and plans again.
  std::set<pid_t> exiting_holders(const os::Snapshot& snap) const override {
    std::set<pid_t> exiting;
    if (late_) {  // no plan yet: every exiting process that holds or may hold a file here
      const dev_t dev = dir()->dev();
      for (const auto& p : snap.processes)
        if (p.exiting && !p.inspected) exiting.insert(p.pid);
      for (const auto& [id, holdings] : snap.holders)
        if (id.dev == dev)
          for (const auto& h : holdings) core::add_if_exiting(snap, h.pid, exiting);
      return exiting;
    }
    for (const auto& item : plan_)
      if (item.verdict == core::ShmVerdict::Kept) core::add_if_exiting(snap, item.holder, exiting);
    return exiting;
  }
  bool judges_uninspectable() const override { return true; }
  void blockers(std::set<pid_t>& out) const override {
    out.insert(blockers_.begin(), blockers_.end());
  }
  void hold_back(pid_t holder, const std::string& reason) override {
    held_back_ = {holder, reason};
    for (auto& item : plan_)
      if (item.verdict == core::ShmVerdict::Unlink) {
        item.verdict = core::ShmVerdict::Kept;
        item.holder = holder;
        item.reason = reason;
      }
  }
  bool act() override {
    if (late_) return judge_late(true);
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
    if (late_) {
      if (!judged_) judge_late(false);
      if (out.shm.empty()) {
        out.shm = std::move(judged_items_);
      } else {
        for (auto&& item : judged_items_) out.shm.push_back(std::move(item));
      }
      judged_items_ = {};
      append_unlinked(snap, dir()->dev(), "shm", out);
      return;
    }
    release_listing();
    static const std::optional<os::UnlinkOutcome> kNotActed;
    out.shm.reserve(out.shm.size() + plan_.size());
    items_in_blocks(
        plan_.size(), scan_threads(o_, true), out.shm,
        [&](std::size_t i, core::ShmReportItem& item) {
          item = core::describe_shm(std::move(plan_[i]), dry_run,
                                    i < outcomes_.size() ? outcomes_[i] : kNotActed);
          item.likely = core::attribute(item.name, pid_alive);
          return true;
        },
        [](std::size_t) {});
    std::vector<core::ShmPlanItem>().swap(plan_);
    std::vector<std::optional<os::UnlinkOutcome>>().swap(outcomes_);
    append_unlinked(snap, dir()->dev(), "shm", out);
  }

 private:
  /// The late judgement (see judge_late_above): each entry lstat'ed once, judged by the
  /// policy over the snapshot and, with `unlink`, unlinked right away when the verdict says
  /// so, on the sweep's threads a block of names at a time (the report items are made in
  /// listing order and each block's names let go). An entry gone by its lstat is left out,
  /// as the listing leaves out one gone by its lstat. Returns whether an unlink was tried.
  bool judge_late(bool unlink) {
    judged_ = true;
    const os::Snapshot& snap = *snap_;
    core::ShmPolicy policy = *late_policy_;
    const auto uninspectable = core::uninspectable_for(snap, policy);
    // Blockers are named whatever --ignore-uninspectable says (as blocker_pids does).
    std::vector<const os::ProcessInfo*> could_block;
    for (const os::ProcessInfo* p : snap.uninspectable())
      if (!policy.discounted.count(p->pid)) could_block.push_back(p);
    std::vector<std::atomic<bool>> blocks(could_block.size());
    std::atomic<bool> tried{false};
    const std::size_t n = names_.size();
    judged_items_.reserve(n);  // (growing by doubling would hold two copies at its peak)
    items_in_blocks(
        n, scan_threads(o_, true), judged_items_,
        [&](std::size_t i, core::ShmReportItem& item) {
          os::FileStat st;
          int err;
          if (i < prestat_.size()) {  // lstat'ed during the scan
            st = prestat_[i].st;
            err = prestat_[i].err;
          } else {
            err = dir()->stat_at(names_.c_str(i), st);
          }
          if (err == ENOENT) return false;
          if (!err && scope_ && scope_->preexisting.count(os::identity(st))) return false;
          core::ShmPlanItem plan = core::judge_shm(names_[i], st, err, snap, policy, uninspectable);
          // A step back of the wall clock since the listing (seen after this lstat) would let
          // a file made after the listing carry an older ctime: the time its ctime must be
          // before moves back by the step. (Two vDSO clock reads, for a would-be unlink only.)
          if (plan.verdict == core::ShmVerdict::Unlink)
            if (const long long back = listed_offset_ - wall_minus_monotonic();
                back > 0 && core::changed_since_listing(st, listed_at_, back)) {
              plan.verdict = core::ShmVerdict::Kept;
              plan.reason = core::kChangedSinceListing;
            }
          if (plan.verdict == core::ShmVerdict::Unlink && held_back_) {
            plan.verdict = core::ShmVerdict::Kept;
            plan.holder = held_back_->first;
            plan.reason = held_back_->second;
          }
          if (!err && S_ISREG(st.st_mode) && st.st_uid == policy.uid)
            for (std::size_t b = 0; b < could_block.size(); ++b)
              if (!blocks[b].load(std::memory_order_relaxed) &&
                  core::could_open(*could_block[b], st))
                blocks[b].store(true, std::memory_order_relaxed);
          std::optional<os::UnlinkOutcome> outcome;
          if (unlink && plan.verdict == core::ShmVerdict::Unlink) {
            outcome = dir()->unlink_judged(names_.c_str(i));
            tried.store(true, std::memory_order_relaxed);
          }
          item = core::describe_shm(std::move(plan), !unlink, outcome);
          item.likely = core::attribute(item.name, pid_alive);
          return true;
        },
        [&](std::size_t end) { names_.release_before(end); });
    std::vector<Prestat>().swap(prestat_);
    names_ = os::NameList();
    for (std::size_t b = 0; b < could_block.size(); ++b)
      if (blocks[b]) blockers_.insert(could_block[b]->pid);
    return tried;
  }

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
  // The late judgement (judge_late_above): the names, when the listing began, the plan's
  // snapshot and policy, what hold_back said, and the report items it made.
  bool late_ = false;
  os::NameList names_;
  struct timespec listed_at_ {};
  long long listed_offset_ = 0;
  const os::Snapshot* snap_ = nullptr;
  std::optional<core::ShmPolicy> late_policy_;
  std::optional<std::pair<pid_t, std::string>> held_back_;
  bool judged_ = false;
  decltype(core::Report::shm) judged_items_;
  struct Prestat {
    os::FileStat st;
    int err = 0;
  };
  std::vector<Prestat> prestat_;  ///< a dry run's lstats made during the scan
  std::jthread prestat_thread_;   ///< last: joined before what it reads is destroyed
};

}  // namespace

void open_run_sweep_dir(const Options& o, os::ShmDir& dir) {
  open_sweep_dir(o, dir);
}

std::unique_ptr<core::Sweep> make_shm_sweep(const Options& o, const RunScope* scope) {
  return std::make_unique<ShmSweep>(o, scope);
}

}  // namespace reap::cli
