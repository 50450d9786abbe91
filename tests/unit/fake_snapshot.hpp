// Builders of fake Snapshots and directory entries for the policy unit tests.
#pragma once

#include <signal.h>

#include <string>
#include <vector>

#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"

namespace reap::testing {

inline os::ProcessInfo proc(pid_t pid, pid_t ppid, uid_t uid, std::string comm,
                            std::string cmdline = {}) {
  os::ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.pgrp = pid;
  p.session = pid;
  p.state = 'S';
  p.comm = std::move(comm);
  p.cmdline = std::move(cmdline);
  p.have_status = true;
  p.uids = {uid, uid, uid, uid};
  p.gids = {uid, uid, uid, uid};
  p.starttime = 1000 + static_cast<unsigned long long>(pid);
  p.read_at_ticks = p.starttime + 100;  // old enough to be pinned exactly later
  return p;
}

inline os::ProcessInfo uninspectable(os::ProcessInfo p) {
  p.inspected = false;
  p.uninspectable_reason = "permission denied";
  return p;
}

/// A snapshot of `processes`, sorted by pid as scan_proc leaves it.
inline os::Snapshot snapshot(std::vector<os::ProcessInfo> processes) {
  os::Snapshot s;
  s.processes = std::move(processes);
  std::sort(s.processes.begin(), s.processes.end(),
            [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return s;
}

inline os::DirEntry file(std::string name, ino_t ino, uid_t uid, mode_t mode = S_IFREG | 0600,
                         double changed = 0) {
  os::DirEntry e;
  e.name = std::move(name);
  e.st.st_dev = 42;
  e.st.st_ino = ino;
  e.st.st_uid = uid;
  e.st.st_gid = uid;
  e.st.st_mode = mode;
  e.st.st_mtim.tv_sec = static_cast<time_t>(changed);
  e.st.st_ctim.tv_sec = static_cast<time_t>(changed);
  return e;
}

inline std::string args(std::initializer_list<std::string> list) {
  std::string out;
  for (const auto& a : list) out += a + '\0';
  return out;
}

}  // namespace reap::testing
