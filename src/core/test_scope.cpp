#include "core/test_scope.hpp"

#include <algorithm>
#include <map>

namespace reap::core {
namespace {

std::multimap<pid_t, const os::ProcessInfo*> children_of(const os::Snapshot& snap) {
  std::multimap<pid_t, const os::ProcessInfo*> children;
  for (const auto& p : snap.processes) children.emplace(p.ppid, &p);
  return children;
}

}  // namespace

const std::vector<std::string>& default_spared() {
  static const std::vector<std::string> texts{
      "from multiprocessing.resource_tracker import main",
      "from multiprocessing.semaphore_tracker import main",
      "from multiprocessing.forkserver import main",
      "import sys;exec(eval(sys.stdin.readline()))",  // execnet's popen bootstrap (xdist)
  };
  return texts;
}

bool is_spared(const std::string& cmdline, const std::vector<std::string>& spare) {
  std::string joined = cmdline;
  std::replace(joined.begin(), joined.end(), '\0', ' ');
  for (const auto& text : spare)
    if (!text.empty() && joined.find(text) != std::string::npos) return true;
  return false;
}

ScopeBaseline scope_baseline(const os::Snapshot& snap, pid_t root) {
  ScopeBaseline base;
  base.root = root;
  if (const os::ProcessInfo* r = snap.find(root)) base.root_start = r->starttime;
  auto children = children_of(snap);
  std::vector<pid_t> stack{root};
  while (!stack.empty()) {
    pid_t pid = stack.back();
    stack.pop_back();
    auto [lo, hi] = children.equal_range(pid);
    for (auto it = lo; it != hi; ++it) {
      const os::ProcessInfo& p = *it->second;
      if (p.zombie() || p.pid == root) continue;
      if (base.present.insert({p.pid, p.starttime}).second) stack.push_back(p.pid);
    }
  }
  return base;
}

ScopeDir scope_dir(const std::string& path, dev_t dev, ino_t ino,
                   const std::vector<os::DirEntry>& entries) {
  ScopeDir d;
  d.path = path;
  d.id = os::DevIno{dev, ino};
  for (const auto& e : entries)
    if (!e.stat_errno) d.present.insert(os::identity(e.st));
  return d;
}

std::set<ProcessKey> scope_members(const os::Snapshot& snap, const ScopeBaseline& base,
                                   const std::vector<std::string>& spare) {
  std::set<ProcessKey> members;
  const os::ProcessInfo* root = snap.find(base.root);
  if (!root || root->starttime != base.root_start) return members;  // not the same root
  auto children = children_of(snap);
  std::vector<std::string> texts = default_spared();
  texts.insert(texts.end(), spare.begin(), spare.end());
  std::vector<const os::ProcessInfo*> stack;
  auto push_children = [&](pid_t pid) {
    auto [lo, hi] = children.equal_range(pid);
    for (auto it = lo; it != hi; ++it)
      if (it->second->pid != base.root) stack.push_back(it->second);
  };
  push_children(base.root);
  std::set<pid_t> visited;
  while (!stack.empty()) {
    const os::ProcessInfo* p = stack.back();
    stack.pop_back();
    if (!visited.insert(p->pid).second || p->zombie() || p->kernel_thread()) continue;
    if (base.present.count({p->pid, p->starttime})) continue;  // there before: not ours
    if (is_spared(snap.cmdline_of(*p).cmdline, texts)) continue;
    members.insert({p->pid, p->starttime});
    push_children(p->pid);
  }
  return members;
}

std::vector<ProcessPlanItem> plan_scope_processes(const os::Snapshot& snap,
                                                  const ScopeBaseline& base,
                                                  const std::vector<std::string>& spare, uid_t uid,
                                                  pid_t self) {
  std::set<ProcessKey> members = scope_members(snap, base, spare);
  if (members.empty()) return {};
  ProcessSelection sel;
  sel.mode = ProcessSelection::Mode::Descendant;
  sel.parent = base.root;
  sel.uid = uid;
  sel.self = self;
  auto plan = plan_processes(snap, sel);
  std::erase_if(plan, [&](const ProcessPlanItem& item) {
    return !members.count({item.pid, item.starttime});
  });
  return plan;
}

std::vector<os::DirEntry> new_entries(std::vector<os::DirEntry> entries, const ScopeDir& dir) {
  std::erase_if(entries,
                [&](const os::DirEntry& e) { return dir.present.count(os::identity(e.st)) > 0; });
  return entries;
}

std::vector<pid_t> scope_zombies(const os::Snapshot& snap, const ScopeBaseline& base) {
  std::vector<pid_t> out;
  for (const auto& p : snap.processes)
    if (p.ppid == base.root && p.zombie() && !base.present.count({p.pid, p.starttime}))
      out.push_back(p.pid);
  return out;
}

}  // namespace reap::core
