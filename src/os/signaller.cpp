#include "os/signaller.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>

#include "os/pidfd.hpp"
#include "os/proc_parse.hpp"
#include "os/proc_scan.hpp"
#include "util/fd.hpp"

namespace reap::os {
namespace {

using Clock = std::chrono::steady_clock;

struct Live {
  std::size_t index;  ///< into the outcomes
  util::UniqueFd pidfd;
  Clock::time_point first_signal;
  bool exited = false;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// Waits until every live entry in `set` has exited or `deadline` passes. A pidfd becomes
/// readable when its process has exited (zombies count). epoll, not poll: each poll() call
/// re-arms every pidfd, which made waiting for 300 exits quadratic (measured: ~20 ms).
void wait_for_exits(std::vector<Live*>& set, Clock::time_point deadline,
                    std::vector<TargetOutcome>& out) {
  util::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (set[i]->exited) continue;
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (!ep.valid() || ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, set[i]->pidfd.get(), &ev) != 0)
      return;  // cannot wait: the caller treats the rest as not (yet) exited
    ++waiting;
  }
  std::vector<struct epoll_event> events(std::min<std::size_t>(waiting, 512) + 1);
  while (waiting > 0) {
    auto now = Clock::now();
    if (now >= deadline) return;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()),
                         static_cast<int>(std::min<long long>(ms, 1 << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    auto seen = Clock::now();
    for (int k = 0; k < n; ++k) {
      Live* l = set[events[static_cast<std::size_t>(k)].data.u64];
      if (l->exited) continue;
      l->exited = true;
      out[l->index].seconds = seconds_between(l->first_signal, seen);
      ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, l->pidfd.get(), nullptr);
      --waiting;
    }
  }
}

char state_of(const std::string& proc_root, pid_t pid) {
  std::string buf;
  std::string path = proc_root + "/" + std::to_string(pid) + "/stat";
  if (util::read_file_at(AT_FDCWD, path.c_str(), buf)) return '?';
  auto st = parse_stat(buf);
  return st ? st->state : '?';
}

}  // namespace

void raise_fd_limit() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::vector<TargetOutcome> escalate(const std::vector<SignalTarget>& targets,
                                    const EscalationOptions& options) {
  std::vector<TargetOutcome> out(targets.size());
  std::vector<Live> live;
  live.reserve(targets.size());

  // 1. Pin each target with a pidfd: the one the scan opened before it read the target's
  //    stat (it names the very process whose start time the scan saw, or one that is
  //    already dead: nothing to check), else one opened now, which is confirmed by reading
  //    the start time again. From here on signals go through the pidfd and can reach no
  //    other process.
  for (std::size_t i = 0; i < targets.size(); ++i) {
    out[i].target = targets[i];
    int fd = targets[i].pidfd && targets[i].pidfd->valid()
                 ? ::fcntl(targets[i].pidfd->get(), F_DUPFD_CLOEXEC, 0)
                 : pidfd_open(targets[i].pid);
    if (fd < 0) {
      out[i].result = errno == ESRCH ? TargetResult::Gone : TargetResult::Failed;
      out[i].err = errno == ESRCH ? 0 : errno;
      continue;
    }
    util::UniqueFd pidfd(fd);
    bool pinned = targets[i].pidfd && targets[i].pidfd->valid();
    auto start = pinned ? std::optional<unsigned long long>(targets[i].starttime)
                        : read_starttime(options.proc_root, targets[i].pid);
    if (!start || *start != targets[i].starttime) {
      out[i].result = TargetResult::Gone;
      out[i].identity_changed = start.has_value();
      continue;
    }
    live.push_back({i, std::move(pidfd), {}, false});
  }

  // 2. First signal: SIGINT then SIGCONT (a stopped process must run to act on SIGINT), or
  //    SIGKILL at once for a process that ignores SIGINT: waiting a grace for it is waste.
  std::vector<Live*> polite, immediate;
  for (Live& l : live) {
    TargetOutcome& o = out[l.index];
    l.first_signal = Clock::now();
    int sig = o.target.ignores_sigint ? SIGKILL : SIGINT;
    if (pidfd_send_signal(l.pidfd.get(), sig) != 0) {
      l.exited = true;
      o.result = errno == ESRCH ? TargetResult::Gone : TargetResult::Failed;
      o.err = errno == ESRCH ? 0 : errno;
      continue;
    }
    if (sig == SIGINT) {
      o.sent_sigint = true;
      pidfd_send_signal(l.pidfd.get(), SIGCONT);
      polite.push_back(&l);
    } else {
      o.sent_sigkill = true;
      immediate.push_back(&l);
    }
  }

  // 3. Grace for the polite ones (the immediate ones' exits are collected meanwhile).
  std::vector<Live*> all = polite;
  all.insert(all.end(), immediate.begin(), immediate.end());
  if (!polite.empty()) {
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options.grace_seconds));
    wait_for_exits(polite, deadline, out);
  }
  for (Live* l : polite)
    if (l->exited) out[l->index].result = TargetResult::Reaped;

  // 4. SIGKILL the survivors of the grace, then one bounded wait for everyone left.
  for (Live* l : polite) {
    if (l->exited) continue;
    if (pidfd_send_signal(l->pidfd.get(), SIGKILL) != 0 && errno == ESRCH) {
      l->exited = true;  // exited between the poll and the kill
      out[l->index].result = TargetResult::Reaped;
      out[l->index].seconds = seconds_between(l->first_signal, Clock::now());
      continue;
    }
    out[l->index].sent_sigkill = true;
  }
  auto kill_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options.kill_wait_seconds));
  wait_for_exits(all, kill_deadline, out);

  for (Live* l : all) {
    TargetOutcome& o = out[l->index];
    if (o.result == TargetResult::Reaped || o.result == TargetResult::Gone ||
        (o.result == TargetResult::Failed && o.err))
      continue;
    if (l->exited) {
      o.result = TargetResult::Killed;
    } else {
      o.result = TargetResult::Survived;
      o.final_state = state_of(options.proc_root, o.target.pid);
      o.seconds = seconds_between(l->first_signal, Clock::now());
    }
  }
  return out;
}

}  // namespace reap::os
