#include "core/sysv_policy.hpp"

#include <fmt/format.h>

namespace reap::core {

std::string sysv_name(const os::SysvShmSegment& s) {
  return fmt::format("shmid {} key {:#x}", s.shmid, static_cast<unsigned>(s.key));
}

std::vector<SweepItem> plan_sysv(const std::vector<os::SysvShmSegment>& segments,
                                 const SweepContext& context,
                                 const std::function<bool(pid_t)>& is_alive) {
  std::vector<SweepItem> plan;
  for (const auto& s : segments) {
    if (s.uid != context.uid && s.cuid != context.uid) continue;
    SweepItem item;
    item.name = sysv_name(s);
    item.uid = s.uid;
    item.size = s.size;
    auto alive = [&](pid_t pid) { return !context.discounted.count(pid) && is_alive(pid); };
    if (s.marked_for_destruction()) {
      item.reason = fmt::format(
          "marked for destruction: the kernel frees it when the last of {} attaches ends",
          s.nattch);
    } else if (s.nattch > 0) {
      item.reason = fmt::format("attached by {} process(es), last pid {}", s.nattch, s.lpid);
      item.holder = s.lpid;
    } else if (s.cpid <= 0) {
      item.reason = "unverifiable: its creator is in a PID namespace reap cannot see";
    } else if (alive(s.cpid)) {
      item.reason = fmt::format("creator pid {} is alive", s.cpid);
      item.holder = s.cpid;
    } else if (s.lpid > 0 && alive(s.lpid)) {
      item.reason = fmt::format("last attach pid {} is alive", s.lpid);
      item.holder = s.lpid;
    } else if (context.min_age && context.now - static_cast<double>(s.ctime) < *context.min_age) {
      item.reason = fmt::format("changed {:.0f} s ago, younger than --min-age {:.1f} s",
                                context.now - static_cast<double>(s.ctime), *context.min_age);
    } else {
      item.verdict = SweepVerdict::Remove;
      item.reason = s.lpid > 0 ? fmt::format("unattached; creator pid {} and last pid {} gone",
                                             s.cpid, s.lpid)
                               : fmt::format("unattached; creator pid {} gone", s.cpid);
    }
    plan.push_back(std::move(item));
  }
  return plan;
}

}  // namespace reap::core
