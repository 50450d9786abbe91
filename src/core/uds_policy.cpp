#include "core/uds_policy.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace reap::core {

bool could_bind(const os::NetnsSurvey::Blocker& b, const os::FileStat& st) {
  if (b.uids) return std::find(b.uids->begin(), b.uids->end(), st.st_uid) != b.uids->end();
  if (b.owner_hint) return *b.owner_hint == st.st_uid || *b.owner_hint == static_cast<uid_t>(-1);
  return true;
}

std::vector<SweepItem> plan_uds(const std::vector<os::DirEntry>& entries,
                                const os::NetnsSurvey& survey, const SweepContext& context,
                                const std::function<bool(pid_t)>& is_alive) {
  std::vector<SweepItem> plan;
  for (const auto& e : entries) {
    SweepItem item;
    item.name = e.name;
    item.uid = e.st.st_uid;
    item.likely = attribute(e.name, is_alive);
    if (item.likely && item.likely->creator == "tractor" && item.likely->pid)
      item.name_pid_note = fmt::format("named for pid {}, {}", *item.likely->pid,
                                       item.likely->alive.value_or(false) ? "alive" : "gone");
    if (e.stat_errno) {
      item.verdict = SweepVerdict::Skipped;
      item.reason = fmt::format("cannot stat: {}", std::strerror(e.stat_errno));
    } else if (!S_ISSOCK(e.st.st_mode)) {
      item.verdict = SweepVerdict::Skipped;
      item.reason = S_ISLNK(e.st.st_mode)   ? "not a socket file (symlink)"
                    : S_ISREG(e.st.st_mode) ? "not a socket file (regular file)"
                    : S_ISDIR(e.st.st_mode) ? "not a socket file (directory)"
                                            : "not a socket file";
    } else if (e.st.st_uid != context.uid) {
      item.reason = fmt::format("owned by uid {}, not {}", e.st.st_uid, context.uid);
    } else if (survey.own_errno) {
      item.reason = fmt::format("unverifiable: the socket table could not be read ({})",
                                std::strerror(survey.own_errno));
    } else if (survey.bound.count(os::identity(e.st))) {
      item.reason = "bound: a socket is bound to this file";
    } else if (double age = context.now -
                            static_cast<double>(std::max(e.st.st_mtim.tv_sec, e.st.st_ctim.tv_sec));
               context.min_age && age < *context.min_age) {
      item.reason = fmt::format("changed {:.1f} s ago, younger than --min-age {:.1f} s",
                                std::max(age, 0.0), *context.min_age);
    } else {
      const os::NetnsSurvey::Blocker* blocker = nullptr;
      if (!context.ignore_uninspectable)
        for (const auto& b : survey.blockers)
          if (!context.discounted.count(b.pid) && could_bind(b, e.st)) {
            blocker = &b;
            break;
          }
      if (blocker) {
        item.holder = blocker->pid;
        item.reason = fmt::format("unverifiable: pid {} ({}) could have bound it; {}", blocker->pid,
                                  blocker->comm, blocker->reason);
      } else {
        item.verdict = SweepVerdict::Remove;
        item.reason = "nothing bound";
      }
    }
    plan.push_back(std::move(item));
  }
  return plan;
}

}  // namespace reap::core
