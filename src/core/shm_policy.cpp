#include "core/shm_policy.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/clock.hpp"

namespace reap::core {
namespace {

std::string type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISLNK(mode)) return "symlink";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  return "unknown type";
}

double changed_at(const os::FileStat& st) {
  auto t = [](const struct timespec& ts) {
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  return std::max(t(st.st_mtim), t(st.st_ctim));
}

const os::ProcessInfo* first_blocker(const std::vector<const os::ProcessInfo*>& uninspectable,
                                     const os::FileStat& st) {
  for (const os::ProcessInfo* p : uninspectable)
    if (could_open(*p, st)) return p;
  return nullptr;
}

}  // namespace

bool could_open(const os::ProcessInfo& p, const os::FileStat& st) {
  if (!p.have_status) {
    // Only the owner of /proc/PID is known (hidepid): its groups are not, so any group or
    // other bit could admit it.
    if (!p.owner_hint) return true;
    return *p.owner_hint == st.st_uid || (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH));
  }
  if (std::find(p.uids.begin(), p.uids.end(), st.st_uid) != p.uids.end()) return true;
  if (st.st_mode & (S_IROTH | S_IWOTH)) return true;
  if (st.st_mode & (S_IRGRP | S_IWGRP)) {
    if (std::find(p.gids.begin(), p.gids.end(), st.st_gid) != p.gids.end()) return true;
    if (std::find(p.groups.begin(), p.groups.end(), st.st_gid) != p.groups.end()) return true;
  }
  return false;
}

ShmPolicy shm_policy_for(const SweepContext& context) {
  ShmPolicy policy;
  policy.uid = context.uid;
  policy.min_age = context.min_age;
  policy.now = context.now;
  policy.ignore_uninspectable = context.ignore_uninspectable;
  policy.discounted = context.discounted;
  return policy;
}

bool changed_since_listing(const os::FileStat& st, const struct timespec& listed_at,
                           long long stepped_back_ns) {
  return util::nanoseconds(st.st_ctim) >= util::nanoseconds(listed_at) - stepped_back_ns;
}

std::vector<const os::ProcessInfo*> uninspectable_for(const os::Snapshot& snap,
                                                      const ShmPolicy& policy) {
  std::vector<const os::ProcessInfo*> uninspectable;
  if (!policy.ignore_uninspectable)
    for (const os::ProcessInfo* p : snap.uninspectable())
      if (!policy.discounted.count(p->pid)) uninspectable.push_back(p);
  return uninspectable;
}

ShmPlanItem judge_shm(std::string_view name, const os::FileStat& st, int stat_errno,
                      const os::Snapshot& snap, const ShmPolicy& policy,
                      const std::vector<const os::ProcessInfo*>& uninspectable) {
  ShmPlanItem item;
  item.name = name;
  item.id = os::identity(st);
  item.uid = st.st_uid;
  item.size = st.st_size;
  if (stat_errno) {
    item.verdict = ShmVerdict::Skipped;
    item.reason = fmt::format("cannot stat: {}", std::strerror(stat_errno));
    return item;
  }
  if (!S_ISREG(st.st_mode)) {
    item.verdict = ShmVerdict::Skipped;
    item.reason = fmt::format("not a regular file ({})", type_name(st.st_mode));
    return item;
  }
  if (st.st_uid != policy.uid) {
    item.reason = fmt::format("owned by uid {}, not {}", st.st_uid, policy.uid);
    return item;
  }
  const os::Holding* held = nullptr;
  std::size_t more = 0;
  if (const auto* hs = snap.holders_of(item.id)) {
    for (const auto& h : *hs) {
      if (policy.discounted.count(h.pid)) continue;
      if (!held) {
        held = &h;
      } else if (h.pid != held->pid) {
        ++more;
      }
    }
  }
  if (held) {
    const os::ProcessInfo* p = snap.find(held->pid);
    item.holder = held->pid;
    item.reason =
        fmt::format("{} by pid {} ({})", held->kind == os::HoldKind::Mmap ? "mapped" : "open",
                    held->pid, p ? p->comm : "?");
    if (more) item.reason += fmt::format(" and {} more", more);
  } else if (policy.listed_at && changed_since_listing(st, *policy.listed_at)) {
    item.reason = kChangedSinceListing;
  } else if (double age = policy.now - changed_at(st); policy.min_age && age < *policy.min_age) {
    item.reason = fmt::format("changed {:.1f} s ago, younger than --min-age {:.1f} s",
                              std::max(age, 0.0), *policy.min_age);
  } else if (const os::ProcessInfo* b = first_blocker(uninspectable, st)) {
    item.holder = b->pid;
    item.reason = b->pid == 0
                      ? fmt::format("unverifiable: {} ({})", b->comm, b->uninspectable_reason)
                      : fmt::format("unverifiable: pid {} ({}) could not be inspected ({})", b->pid,
                                    b->comm, b->uninspectable_reason);
  } else if (policy.watched_dev && st.st_dev != *policy.watched_dev) {
    item.reason = "on another file system than the sweep directory (mounted over it?)";
  } else {
    item.verdict = ShmVerdict::Unlink;
    item.reason = "unheld";
  }
  return item;
}

std::vector<ShmPlanItem> plan_shm(const std::vector<os::DirEntry>& entries,
                                  const os::Snapshot& snap, const ShmPolicy& policy) {
  std::vector<ShmPlanItem> plan;
  plan.reserve(entries.size());
  const auto uninspectable = uninspectable_for(snap, policy);
  for (const auto& e : entries)
    plan.push_back(judge_shm(e.name, e.st, e.stat_errno, snap, policy, uninspectable));
  return plan;
}

std::vector<const os::ProcessInfo*> blocking_uninspectable(const std::vector<os::DirEntry>& entries,
                                                           const os::Snapshot& snap,
                                                           const ShmPolicy& policy) {
  std::vector<const os::ProcessInfo*> out;
  for (const auto& p : snap.processes) {
    if (p.inspected || policy.discounted.count(p.pid)) continue;
    for (const auto& e : entries) {
      if (e.stat_errno || !S_ISREG(e.st.st_mode) || e.st.st_uid != policy.uid) continue;
      if (could_open(p, e.st)) {
        out.push_back(&p);
        break;
      }
    }
  }
  return out;
}

std::set<pid_t> blocker_pids(const std::vector<os::DirEntry>& entries, const os::Snapshot& snap,
                             ShmPolicy policy) {
  policy.ignore_uninspectable = false;
  std::set<pid_t> pids;
  for (const auto* p : blocking_uninspectable(entries, snap, policy)) pids.insert(p->pid);
  return pids;
}

void add_if_exiting(const os::Snapshot& snap, std::optional<pid_t> holder, std::set<pid_t>& out) {
  if (!holder) return;
  if (const os::ProcessInfo* p = snap.find(*holder); p && p->exiting) out.insert(p->pid);
}

}  // namespace reap::core
