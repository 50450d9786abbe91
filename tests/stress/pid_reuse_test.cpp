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
#include <vector>

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

class PidReuse : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(ready_, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(rec_, O_CLOEXEC | O_NONBLOCK), 0);
  }
  void TearDown() override {
    for (int fd : {ready_[0], ready_[1], rec_[0], rec_[1]}) ::close(fd);
  }

  // A target that waits to be looked at, and a snapshot of it.
  void start_target(bool pin) {
    target_ = ::fork();
    ASSERT_GE(target_, 0);
    if (target_ == 0) {
      for (;;) ::pause();
    }
    reap::os::ScanOptions scan;
    scan.pin = pin;
    snap_ = reap::os::scan_proc(scan);
    seen_ = snap_.find(target_);
    ASSERT_NE(seen_, nullptr);
  }

  // The target dies and is collected; a signal recorder is steered onto its pid.
  void reuse_its_pid() {
    ::kill(target_, SIGKILL);
    ASSERT_EQ(::waitpid(target_, nullptr, 0), target_);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a few clock ticks later
    ASSERT_TRUE(set_last_pid(target_ - 1));
    reused_ = fork_recorder(rec_[1], ready_[1]);
    ASSERT_GE(reused_, 0);
    guard_.track(reused_);
    ASSERT_EQ(reused_, target_) << "ns_last_pid did not steer the pid";
    ASSERT_TRUE(read_line(ready_[0], std::chrono::seconds(5)));
  }

  static reap::os::EscalationOptions quick() {
    reap::os::EscalationOptions esc;
    esc.grace_seconds = 0.3;
    esc.kill_wait_seconds = 0.3;
    return esc;
  }

  // escalate() sent nothing, and the new owner of the pid is alive and got no signal.
  void expect_nothing_reached_the_new_owner(const std::vector<reap::os::TargetOutcome>& out) {
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].result, reap::os::TargetResult::Gone);
    EXPECT_FALSE(out[0].sent_sigint);
    EXPECT_FALSE(out[0].sent_sigkill);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(running(reused_)) << "the new owner of the pid was killed";
    char got[8];
    EXPECT_LE(::read(rec_[0], got, sizeof got), 0) << "the new owner of the pid got a signal";
  }

  ChildGuard guard_;
  int ready_[2] = {-1, -1}, rec_[2] = {-1, -1};
  pid_t target_ = -1, reused_ = -1;
  reap::os::Snapshot snap_;
  const reap::os::ProcessInfo* seen_ = nullptr;
};

TEST_F(PidReuse, EscalateLeavesTheNewOwnerOfAReusedPidAlone) {
  if (rerun_in_pid_namespace()) return;
  ASSERT_NO_FATAL_FAILURE(start_target(false));
  reap::os::SignalTarget stale{target_, seen_->starttime, false, nullptr};
  ASSERT_NO_FATAL_FAILURE(reuse_its_pid());
  ASSERT_NE(proc_starttime(reused_), stale.starttime);

  auto out = reap::os::escalate({stale}, quick());
  expect_nothing_reached_the_new_owner(out);
  EXPECT_TRUE(out[0].identity_changed);

  // Control: with its own start time the same process is signalled, and the recorder sees
  // it (so the check above could have seen a stray SIGINT).
  reap::os::SignalTarget fresh{reused_, proc_starttime(reused_), false, nullptr};
  auto esc = quick();
  esc.grace_seconds = 0.2;
  out = reap::os::escalate({fresh}, esc);
  EXPECT_TRUE(out[0].sent_sigint);
  EXPECT_EQ(out[0].result, reap::os::TargetResult::Killed);  // it catches SIGINT, lingers
  char got[8];
  EXPECT_GT(::read(rec_[0], got, sizeof got), 0) << "the recorder did not record SIGINT";
  ::waitpid(reused_, nullptr, 0);
}

// Start times have clock-tick (10 ms) resolution: a pid reused within the tick in which the
// scanned process started passes the start-time re-check. For a process read that young the
// scan keeps the pidfd it opened before reading the stat, so it names the scanned process,
// which is dead. Here the collision is forced (the target carries the new process's start time, as
// a same-tick reuse would) and the pinned pidfd must still reach nobody.
TEST_F(PidReuse, PinnedPidfdReachesNobodyEvenWhenStartTimesCollide) {
  if (rerun_in_pid_namespace()) return;
  ASSERT_NO_FATAL_FAILURE(start_target(true));
  // The scan keeps a pidfd only for a process it read within two clock ticks of its start
  // (a later reuse of the pid cannot share its start tick otherwise: the start time is
  // exact then). A slow (sanitizer) build may read it later than that.
  if (!(seen_->pidfd && seen_->pidfd->valid())) {
    ASSERT_TRUE(seen_->exact_later()) << "neither pinned nor old enough to pin exactly";
    GTEST_SKIP() << "the scan read the target more than two ticks after it started";
  }
  ASSERT_NO_FATAL_FAILURE(reuse_its_pid());
  reap::os::SignalTarget collided{target_, proc_starttime(reused_), false, seen_->pidfd};
  expect_nothing_reached_the_new_owner(reap::os::escalate({collided}, quick()));
}

}  // namespace
}  // namespace reap_stress
