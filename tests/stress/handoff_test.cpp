// Hand-off by fork while sweeps run: a segment is held by one process at a time and passed
// on the way a forking server passes it: the holder forks a child (which inherits the fd or
// the mapping) and then closes its own copy and exits. The segment is never unheld, yet a
// scan that read the parent after it let go and never read the child (forked after /proc was
// listed) would call it unheld. reap lists /proc again until nothing new appears; zero losses
// are allowed over thousands of hand-offs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <new>
#include <string>

#include "stress_util.hpp"

namespace reap_stress {
namespace {

constexpr uid_t kUid = 65534;
constexpr gid_t kGid = 65534;

struct Relay {
  std::atomic<int> stop{0};
  std::atomic<unsigned long> handoffs{0};
};

// One holder of the relay: holds `fd` (and/or `map`), waits a little, forks its successor,
// lets go and exits. The successor does the same until told to stop.
[[noreturn]] void relay_holder(Relay& relay, int fd, void* map) {
  for (unsigned long n = 0;; ++n) {
    struct timespec ts {
      0, static_cast<long>(500 * 1000 + (n % 7) * 250 * 1000)
    };
    ::nanosleep(&ts, nullptr);
    if (relay.stop.load()) ::_exit(0);
    pid_t child = ::fork();
    if (child < 0) continue;   // try again later, still holding
    if (child == 0) continue;  // the successor holds on (inherited fd / mapping)
    relay.handoffs.fetch_add(1);
    if (map != MAP_FAILED) ::munmap(map, 4096);
    if (fd >= 0) ::close(fd);
    ::_exit(0);
  }
}

// Runs the relays inside a subreaper that collects the holders as they exit (so the test
// process's own children are only this manager).
[[noreturn]] void relay_manager(Relay& relay, int dirfd) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  int by_fd = ::openat(dirfd, "relay-fd", O_RDWR | O_CLOEXEC);
  int for_map = ::openat(dirfd, "relay-map", O_RDWR | O_CLOEXEC);
  void* map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, for_map, 0);
  ::close(for_map);
  if (by_fd < 0 || map == MAP_FAILED) ::_exit(3);
  if (::fork() == 0) {
    ::munmap(map, 4096);
    relay_holder(relay, by_fd, MAP_FAILED);
  }
  if (::fork() == 0) {
    ::close(by_fd);
    relay_holder(relay, -1, map);
  }
  ::close(by_fd);
  ::munmap(map, 4096);
  for (;;) {
    int status;
    pid_t got = ::waitpid(-1, &status, 0);
    if (got < 0 && errno == ECHILD && relay.stop.load()) ::_exit(0);
    if (got < 0 && errno != EINTR) {
      struct timespec ts {
        0, 1000 * 1000
      };
      ::nanosleep(&ts, nullptr);
    }
  }
}

TEST(Handoff, SegmentPassedFromProcessToProcessByForkIsNeverSwept) {
  TempShmDir dir;
  ASSERT_GE(dir.fd(), 0);
  make_segment(dir.fd(), "relay-fd", 0600, kUid, kGid);
  make_segment(dir.fd(), "relay-map", 0600, kUid, kGid);
  make_segment(dir.fd(), "litter", 0600, kUid, kGid);

  void* mem =
      ::mmap(nullptr, sizeof(Relay), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* relay = new (mem) Relay();
  ChildGuard guard;
  pid_t manager = ::fork();
  ASSERT_GE(manager, 0);
  if (manager == 0) relay_manager(*relay, dir.fd());
  guard.track(manager);

  int runs = 0;
  std::string lost;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (std::chrono::steady_clock::now() < until && lost.empty()) {
    auto r = run_reap({"--shm-only", "--shm-dir", dir.path(), "--uid", std::to_string(kUid)});
    ++runs;
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    for (const char* name : {"relay-fd", "relay-map"})
      if (r.out.find(std::string("shm ") + name + ": unlinked") != std::string::npos)
        lost = std::string(name) + " was unlinked while held:\n" + r.out;
  }
  relay->stop.store(1);
  int status = 0;
  ASSERT_EQ(::waitpid(manager, &status, 0), manager);
  std::printf("[ handoff  ] %d sweeps during %lu hand-offs\n", runs, relay->handoffs.load());
  EXPECT_TRUE(lost.empty()) << lost;
  EXPECT_GE(runs, built_with_asan() ? 2 : 5) << "too few sweeps overlapped the hand-offs";
  EXPECT_GT(relay->handoffs.load(), 300ul) << "the relays barely ran";
  auto left = dir.names();
  EXPECT_TRUE(left.count("relay-fd") && left.count("relay-map"));
  EXPECT_FALSE(left.count("litter")) << "unheld litter survived the sweeps";
  relay->~Relay();
  ::munmap(mem, sizeof(Relay));
}

}  // namespace
}  // namespace reap_stress
