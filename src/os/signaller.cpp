#include "os/signaller.hpp"

#include <fcntl.h>
#include <poll.h>
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

/// Marks `l` exited at `seen`.
void mark_exited(Live* l, Clock::time_point seen, std::vector<TargetOutcome>& out) {
  l->exited = true;
  out[l->index].seconds = seconds_between(l->first_signal, seen);
}

/// The fallback of wait_for_exits when no epoll instance can be had (no descriptor left):
/// poll(), which needs none, over the pidfds still live.
void poll_for_exits(std::vector<Live*>& set, Clock::time_point deadline,
                    std::vector<TargetOutcome>& out) {
  std::vector<struct pollfd> fds;
  std::vector<Live*> who;
  for (;;) {
    fds.clear();
    who.clear();
    for (Live* l : set)
      if (!l->exited) {
        fds.push_back({l->pidfd.get(), POLLIN, 0});
        who.push_back(l);
      }
    auto now = Clock::now();
    if (fds.empty() || now >= deadline) return;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(ms, 1 << 30)));
    if (n < 0 && errno != EINTR) return;
    auto seen = Clock::now();
    for (std::size_t k = 0; k < fds.size(); ++k)
      if (fds[k].revents) mark_exited(who[k], seen, out);
  }
}

/// Waits until every live entry in `set` has exited or `deadline` passes. A pidfd becomes
/// readable when its process has exited (zombies count). epoll, not poll: each poll() call
/// re-arms every pidfd, which made waiting for 300 exits quadratic (measured: ~20 ms).
void wait_for_exits(std::vector<Live*>& set, Clock::time_point deadline,
                    std::vector<TargetOutcome>& out, const EscalationOptions& options,
                    bool sigkill_next) {
  util::UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep.valid()) return poll_for_exits(set, deadline, out);
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (set[i]->exited) continue;
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, set[i]->pidfd.get(), &ev) != 0)
      return poll_for_exits(set, deadline, out);
    ++waiting;
  }
  std::vector<struct epoll_event> events(std::min<std::size_t>(waiting, 512) + 1);
  while (waiting > 0) {
    auto now = Clock::now();
    if (now >= deadline) return;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    if (options.on_wait) {
      options.on_wait(waiting, seconds_between(now, deadline), sigkill_next);
      ms = std::min<long long>(ms, 200);
    }
    int n = ::epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()),
                         static_cast<int>(std::min<long long>(ms, 1 << 30)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return poll_for_exits(set, deadline, out);
    }
    auto seen = Clock::now();
    for (int k = 0; k < n; ++k) {
      Live* l = set[events[static_cast<std::size_t>(k)].data.u64];
      if (l->exited) continue;
      mark_exited(l, seen, out);
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

namespace {

/// Steps 2-4 below for the pinned `live` targets: first signal, grace, SIGKILL, bounded wait.
void escalate_pinned(std::vector<Live>& live, const EscalationOptions& options,
                     std::vector<TargetOutcome>& out) {
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
    wait_for_exits(polite, deadline, out, options, true);
  }
  for (Live* l : polite)
    if (l->exited) out[l->index].result = TargetResult::Reaped;

  // 4. SIGKILL the survivors of the grace, then one bounded wait for everyone left.
  for (Live* l : polite) {
    if (l->exited) continue;
    if (pidfd_send_signal(l->pidfd.get(), SIGKILL) != 0) {
      if (errno == ESRCH) {  // exited between the wait and the kill
        mark_exited(l, Clock::now(), out);
        out[l->index].result = TargetResult::Reaped;
      } else {  // not sent: say so, do not wait for an exit that nothing asked for
        l->exited = true;
        out[l->index].result = TargetResult::Failed;
        out[l->index].err = errno;
      }
      continue;
    }
    out[l->index].sent_sigkill = true;
  }
  auto kill_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(options.kill_wait_seconds));
  wait_for_exits(all, kill_deadline, out, options, false);

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
}

bool out_of_descriptors(int err) {
  return err == EMFILE || err == ENFILE;
}

}  // namespace

std::vector<TargetOutcome> escalate(const std::vector<SignalTarget>& targets,
                                    const EscalationOptions& options) {
  std::vector<TargetOutcome> out(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) out[i].target = targets[i];

  // 1. Pin each target with a pidfd: the one the scan opened before it read the target's
  //    stat (it names the very process whose start time the scan saw, or one that is
  //    already dead: nothing to check), else one opened now, which is confirmed by reading
  //    the start time again (exact for a process that was not young when scanned: see
  //    ProcessInfo::exact_later). From here on signals go through the pidfd and can reach no
  //    other process. When descriptors run out, the targets pinned so far are escalated
  //    as one batch and their pidfds closed before the rest are pinned: a low limit costs
  //    time (a grace per batch), never the grace itself.
  std::size_t next = 0;
  while (next < targets.size()) {
    std::vector<Live> live;
    for (; next < targets.size(); ++next) {
      const SignalTarget& t = targets[next];
      bool pinned = t.pidfd && t.pidfd->valid();
      int fd = pinned ? ::fcntl(t.pidfd->get(), F_DUPFD_CLOEXEC, 0) : pidfd_open(t.pid);
      if (fd < 0 && out_of_descriptors(errno) && !live.empty()) break;  // batch is full
      if (fd < 0) {
        out[next].result = errno == ESRCH ? TargetResult::Gone : TargetResult::Failed;
        out[next].err = errno == ESRCH ? 0 : errno;
        continue;
      }
      util::UniqueFd pidfd(fd);
      auto start = pinned ? std::optional<unsigned long long>(t.starttime)
                          : read_starttime(options.proc_root, t.pid);
      if (!start && out_of_descriptors(errno) && !live.empty()) break;  // (fd freed above)
      if (!start || *start != t.starttime) {
        out[next].result = TargetResult::Gone;
        out[next].identity_changed = start.has_value();
        continue;
      }
      live.push_back({next, std::move(pidfd), {}, false});
    }
    if (live.empty()) continue;
    escalate_pinned(live, options, out);
  }
  return out;
}

}  // namespace reap::os
