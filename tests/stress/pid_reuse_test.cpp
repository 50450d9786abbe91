// PID reuse between scan and signal, through the library seams: the snapshot names a process,
// that process dies and its pid is handed to a new process (steered with ns_last_pid inside a
// private PID namespace), then os::escalate runs with the snapshot's SignalTarget. The new
// process must not be signalled: the outcome is Gone with identity_changed.
//
// Each test re-executes itself under `unshare --pid --fork --mount-proc` (where it is PID 1
// and nothing else forks), so ns_last_pid steering is deterministic.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "os/proc_scan.hpp"
#include "os/signaller.hpp"
#include "stress_util.hpp"

namespace reap_stress {
namespace {

int g_record_fd = -1;
void record_signal(int sig) {
  char c = static_cast<char>(sig);
  ssize_t n = ::write(g_record_fd, &c, 1);
  (void)n;
}

// Forks a process that records SIGINT/SIGCONT/SIGTERM as bytes on `record_fd` and reports
// "ready" on `ready_fd` once its handlers are in place.
pid_t fork_recorder(int record_fd, int ready_fd) {
  pid_t pid = ::fork();
  if (pid == 0) {
    g_record_fd = record_fd;
    for (int s : {SIGINT, SIGCONT, SIGTERM}) ::signal(s, record_signal);
    write_all(ready_fd, "ready\n", 6);
    for (;;) ::pause();
  }
  return pid;
}

bool set_last_pid(pid_t pid) {
  std::ofstream f("/proc/sys/kernel/ns_last_pid");
  f << pid;
  f.close();
  return !f.fail();
}

TEST(PidReuse, EscalateLeavesTheNewOwnerOfAReusedPidAlone) {
  if (rerun_in_pid_namespace()) return;
  ChildGuard guard;
  int ready[2], rec[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(rec, O_CLOEXEC | O_NONBLOCK), 0);

  // 1. The target, seen by a snapshot.
  pid_t target = ::fork();
  ASSERT_GE(target, 0);
  if (target == 0) {
    for (;;) ::pause();
  }
  reap::os::ScanOptions scan;
  auto snap = reap::os::scan_proc(scan);
  const auto* seen = snap.find(target);
  ASSERT_NE(seen, nullptr);
  reap::os::SignalTarget stale{target, seen->starttime, false, nullptr};

  // 2. It dies and is collected; a new process gets the same pid. Start times have clock-tick
  //    resolution, so let a few ticks pass first (see the same-tick note below).
  ::kill(target, SIGKILL);
  ASSERT_EQ(::waitpid(target, nullptr, 0), target);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(set_last_pid(target - 1));
  pid_t reused = fork_recorder(rec[1], ready[1]);
  ASSERT_GE(reused, 0);
  guard.track(reused);
  ASSERT_EQ(reused, target) << "ns_last_pid did not steer the pid";
  ASSERT_TRUE(read_line(ready[0], std::chrono::seconds(5)));
  ASSERT_NE(proc_starttime(reused), stale.starttime);

  // 3. Escalate against the stale target: nothing may be sent.
  reap::os::EscalationOptions esc;
  esc.grace_seconds = 0.3;
  esc.kill_wait_seconds = 0.3;
  auto out = reap::os::escalate({stale}, esc);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, reap::os::TargetResult::Gone);
  EXPECT_TRUE(out[0].identity_changed);
  EXPECT_FALSE(out[0].sent_sigint);
  EXPECT_FALSE(out[0].sent_sigkill);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(running(reused)) << "the new owner of the pid was killed";
  char got[8];
  EXPECT_LE(::read(rec[0], got, sizeof got), 0) << "the new owner of the pid got a signal";

  // 4. Control: with its own start time the same process is signalled, and the recorder
  //    sees it (so step 3 could have seen a stray SIGINT).
  reap::os::SignalTarget fresh{reused, proc_starttime(reused), false, nullptr};
  esc.grace_seconds = 0.2;
  out = reap::os::escalate({fresh}, esc);
  EXPECT_TRUE(out[0].sent_sigint);
  EXPECT_EQ(out[0].result, reap::os::TargetResult::Killed);  // it catches SIGINT, lingers
  EXPECT_GT(::read(rec[0], got, sizeof got), 0) << "the recorder did not record SIGINT";
  ::waitpid(reused, nullptr, 0);
  for (int fd : {ready[0], ready[1], rec[0], rec[1]}) ::close(fd);
}

// Start times have clock-tick (10 ms) resolution: a pid reused within the tick in which the
// scanned process started passes the start-time re-check. The scan's pin closes that gap:
// its pidfd was opened before the stat was read, so it names the scanned process, which is
// dead. Here the collision is forced (the target carries the new process's start time, as a
// same-tick reuse would) and the pinned pidfd must still reach nobody.
TEST(PidReuse, PinnedPidfdReachesNobodyEvenWhenStartTimesCollide) {
  if (rerun_in_pid_namespace()) return;
  ChildGuard guard;
  int ready[2], rec[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(rec, O_CLOEXEC | O_NONBLOCK), 0);
  pid_t target = ::fork();
  ASSERT_GE(target, 0);
  if (target == 0) {
    for (;;) ::pause();
  }
  reap::os::ScanOptions scan;
  scan.pin = true;
  auto snap = reap::os::scan_proc(scan);
  const auto* seen = snap.find(target);
  ASSERT_NE(seen, nullptr);
  ASSERT_TRUE(seen->pidfd && seen->pidfd->valid()) << "the scan did not pin the process";

  ::kill(target, SIGKILL);
  ASSERT_EQ(::waitpid(target, nullptr, 0), target);
  ASSERT_TRUE(set_last_pid(target - 1));
  pid_t reused = fork_recorder(rec[1], ready[1]);
  ASSERT_GE(reused, 0);
  guard.track(reused);
  ASSERT_EQ(reused, target) << "ns_last_pid did not steer the pid";
  ASSERT_TRUE(read_line(ready[0], std::chrono::seconds(5)));

  reap::os::SignalTarget collided{target, proc_starttime(reused), false, seen->pidfd};
  reap::os::EscalationOptions esc;
  esc.grace_seconds = 0.3;
  esc.kill_wait_seconds = 0.3;
  auto out = reap::os::escalate({collided}, esc);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].result, reap::os::TargetResult::Gone);
  EXPECT_FALSE(out[0].sent_sigint);
  EXPECT_FALSE(out[0].sent_sigkill);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(running(reused)) << "the new owner of the pid was killed";
  char got[8];
  EXPECT_LE(::read(rec[0], got, sizeof got), 0) << "the new owner of the pid got a signal";
  for (int fd : {ready[0], ready[1], rec[0], rec[1]}) ::close(fd);
}

}  // namespace
}  // namespace reap_stress
