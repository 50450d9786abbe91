#include "core/process_policy.hpp"

#include <signal.h>

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "core/program_match.hpp"
#include "os/proc_parse.hpp"

namespace reap::core {
namespace {

/// How long (clock ticks, 10 ms each) a process adopted while reaping is given to settle
/// into the program it will run before it is judged as it is.
constexpr unsigned long long kSettleTicks = 5;

bool ignores_sigint(const os::ProcessInfo& p) {
  return p.have_status && (p.sig_ign & (1ull << (SIGINT - 1)));
}

}  // namespace

std::set<pid_t> adopters_of(const os::Snapshot& snap, uid_t uid, const std::vector<pid_t>& extra) {
  std::set<pid_t> out(extra.begin(), extra.end());
  out.insert(1);
  for (const auto& p : snap.processes)
    if (p.comm == "systemd" && p.pid != 1 && uid != 0 && !p.gone()) {
      const auto& d = snap.status_of(p);
      if (!d.have_status || d.euid() != uid) continue;
      auto args = os::split_cmdline(snap.cmdline_of(p).cmdline);
      if (std::find(args.begin(), args.end(), "--user") != args.end()) out.insert(p.pid);
    }
  return out;
}

std::set<pid_t> self_and_ancestors(const os::Snapshot& snap, pid_t self) {
  std::set<pid_t> out;
  for (pid_t pid = self; pid > 0 && out.insert(pid).second;) {
    const os::ProcessInfo* p = snap.find(pid);
    if (!p) break;
    pid = p->ppid;
  }
  return out;
}

std::optional<std::string> refuse_parent(const os::Snapshot& snap, pid_t parent, pid_t self) {
  if (parent == 1) return "refusing --parent 1: its subtree is the whole system";
  if (parent == self) return fmt::format("refusing --parent {}: that is reap itself", parent);
  const os::ProcessInfo* p = snap.find(parent);
  if (!p || p->gone()) return fmt::format("--parent {}: no such process", parent);
  if (self_and_ancestors(snap, self).count(parent))
    return fmt::format(
        "refusing --parent {} ({}): it is an ancestor of reap, whose subtree "
        "includes reap itself",
        parent, p->comm);
  return std::nullopt;
}

std::vector<const os::ProcessInfo*> detail_candidates(const os::Snapshot& snap,
                                                      const ProcessSelection& sel) {
  std::vector<const os::ProcessInfo*> out;
  if (sel.mode == ProcessSelection::Mode::Orphan) {
    std::set<pid_t> adopters(sel.adopters.begin(), sel.adopters.end());
    adopters.insert(1);
    for (const auto& p : snap.processes)
      if (p.comm == "systemd") adopters.insert(p.pid);
    for (const auto& p : snap.processes)
      if (adopters.count(p.ppid) && !p.kernel_thread() && !p.gone()) out.push_back(&p);
    return out;
  }
  std::multimap<pid_t, const os::ProcessInfo*> children;
  for (const auto& p : snap.processes) children.emplace(p.ppid, &p);
  std::vector<pid_t> stack{sel.parent};
  std::set<pid_t> seen;
  while (!stack.empty()) {
    pid_t pid = stack.back();
    stack.pop_back();
    auto [lo, hi] = children.equal_range(pid);
    for (auto it = lo; it != hi; ++it)
      if (seen.insert(it->second->pid).second) {
        out.push_back(it->second);
        stack.push_back(it->second->pid);
      }
  }
  return out;
}

bool in_orphan_scope(const os::Snapshot& snap, const os::ProcessInfo& p,
                     const ProcessSelection& sel) {
  if (!snap.status_of(p).have_status || p.euid() != sel.uid) return false;
  return sel.cwd && snap.cwd_of(p).cwd && *p.cwd == *sel.cwd;
}

std::vector<ProcessPlanItem> plan_processes(const os::Snapshot& snap, const ProcessSelection& sel,
                                            RescanContext* rescan) {
  std::multimap<pid_t, const os::ProcessInfo*> children;
  for (const auto& p : snap.processes) children.emplace(p.ppid, &p);
  const std::set<pid_t> protected_pids = self_and_ancestors(snap, sel.self);

  auto eligible = [&](const os::ProcessInfo& p) {
    return !p.kernel_thread() && !p.gone() && !protected_pids.count(p.pid) && p.pid > 1;
  };

  // Orphan mode's tests, cheapest first: the uid (status), the cwd (one statx that never
  // syncs), then the program (cmdline reads the target's memory; exe is a readlink).
  auto in_scope = [&](const os::ProcessInfo& p) { return in_orphan_scope(snap, p, sel); };
  auto matches = [&](const os::ProcessInfo& p) {
    snap.cmdline_of(p);
    snap.exe_of(p);
    return program_matches(p.cmdline, p.exe, p.comm, sel.match);
  };

  std::vector<const os::ProcessInfo*> roots;
  std::set<pid_t> adopters = adopters_of(snap, sel.uid, sel.adopters);
  if (sel.mode == ProcessSelection::Mode::Descendant) {
    auto [lo, hi] = children.equal_range(sel.parent);
    for (auto it = lo; it != hi; ++it) roots.push_back(it->second);
  } else {
    for (const auto& p : snap.processes) {
      if (!adopters.count(p.ppid) || adopters.count(p.pid) || !eligible(p)) continue;
      if (in_scope(p) && matches(p)) roots.push_back(&p);
    }
  }
  if (rescan) {
    std::map<pid_t, unsigned long long> known_start;
    std::set<pid_t> known_groups;
    std::set<std::string> known_exes;
    for (const auto& k : rescan->known) {
      known_start[k.pid] = k.starttime;
      known_groups.insert(k.pgrp);
      if (!k.exe.empty()) known_exes.insert(k.exe);
    }
    for (const auto& p : snap.processes) {
      if (known_start.count(p.pid) || !eligible(p)) continue;
      const os::ProcessInfo* parent = snap.find(p.ppid);
      auto k = known_start.find(p.ppid);
      bool member = k != known_start.end() && parent && parent->starttime == k->second;
      bool is_new = !rescan->seen.count({p.pid, p.starttime});
      if (!member && is_new && adopters.count(p.ppid) && known_groups.count(p.pgrp))
        snap.status_of(p);
      if (!member && is_new && p.have_status && p.euid() == sel.uid && adopters.count(p.ppid) &&
          known_groups.count(p.pgrp))
        member = true;
      // (Started after the first signal is what makes it new to the reap: it may have been
      // seen before with a parent that was alive then.)
      if (!member && sel.mode == ProcessSelection::Mode::Orphan && rescan->reaping_since &&
          p.starttime >= rescan->reaping_since && adopters.count(p.ppid) &&
          !adopters.count(p.pid) && in_scope(p) && known_exes.count(snap.exe_of(p).exe))
        member = true;
      if (member) {
        roots.push_back(&p);
        continue;
      }
      // Adopted just now, in scope, and not matching yet: it may be mid-exec (its cmdline
      // reads empty until the new program's arguments are in place) or between the execs of
      // a chain. A grandchild that a dying member double-forked looks like this for a moment:
      // the caller looks again until it is kSettleTicks old, then judges it as it is.
      if (sel.mode != ProcessSelection::Mode::Orphan || !adopters.count(p.ppid) ||
          adopters.count(p.pid))
        continue;
      // Or it could not be judged at all: its status or cwd vanished after the scan read its
      // stat, so it is exiting, and children it forked are being adopted after that scan.
      bool unreadable = !snap.status_of(p).have_status || !snap.cwd_of(p).cwd;
      if (unreadable ? is_new
                     : in_scope(p) && !matches(p) &&
                           (p.cmdline.empty() || snap.taken_at_ticks < p.starttime + kSettleTicks))
        rescan->unsettled.push_back(p.pid);
    }
  }

  // Every descendant of a root is a member, whatever its cwd or cmdline.
  std::map<pid_t, const os::ProcessInfo*> members;
  std::vector<const os::ProcessInfo*> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    const os::ProcessInfo* p = stack.back();
    stack.pop_back();
    if (!eligible(*p) || !members.emplace(p->pid, p).second) continue;
    auto [lo, hi] = children.equal_range(p->pid);
    for (auto it = lo; it != hi; ++it) stack.push_back(it->second);
  }

  std::vector<ProcessPlanItem> plan;
  for (const auto& [pid, p] : members) {
    snap.status_of(*p);
    snap.cmdline_of(*p);  // for the report
    ProcessPlanItem item{pid, p->starttime, p->comm, p->cmdline, ProcessVerdict::Reap,
                         "",  p->pidfd};
    item.defer = !p->pidfd && !p->exact_later();
    if (!p->have_status) {
      item.verdict = ProcessVerdict::Kept;
      item.reason = "owner unknown: /proc status unreadable";
    } else if (p->euid() != sel.uid) {
      item.verdict = ProcessVerdict::Kept;
      item.reason = fmt::format("owned by uid {}, not {}", p->euid(), sel.uid);
    } else if (ignores_sigint(*p)) {
      item.verdict = ProcessVerdict::Kill;
    }
    plan.push_back(std::move(item));
  }
  return plan;
}

}  // namespace reap::core
