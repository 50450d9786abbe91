// Churn (shm): workers create, hold, check and remove segments as fast as they can while reap
// sweeps the same directory back to back. A name whose creator still holds it must never
// disappear; litter nobody holds must go.
//
// Every worker holds its segment from the moment it creates it (O_CREAT returns the fd, and
// an open fd is a hold) until after it has unlinked the name itself, so no legitimate sweep
// can remove a worker's name: any ENOENT a worker sees while holding is a reap bug. No
// --min-age is used for that reason: it would hide exactly the races this test looks for.
// Hold styles rotate over the ways programs hold segments: fd only; open, mmap, close (the
// hold moves from the fd table to the mappings, as shm_open + mmap + close does); fd and
// mapping; fd held by a thread that unshared its fd table.
//
// The second test reuses names (a worker's next segment takes the name of one it removed a
// moment ago) and has reap judge every entry late, from one lstat after the /proc scan
// (REAP_TEST_JUDGE_LATE_ABOVE=0; a large directory does it by default): a name listed
// before the scan may then name a newer file, made after the scan read its holder. Only the
// "too new" rule (ctime not before the listing) keeps such a file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include "stress_util.hpp"

namespace reap_stress {
namespace {

constexpr uid_t kUid = 65534;
constexpr gid_t kGid = 65534;
constexpr int kWorkers = 6;
constexpr int kLitter = 300;

enum HoldStyle { kFdOnly = 0, kMmapThenClose = 1, kFdAndMmap = 2, kUnsharedThread = 3 };

struct WorkerStats {
  std::atomic<unsigned long> iterations{0};
  std::atomic<unsigned long> checks{0};
  std::atomic<unsigned long> failures{0};
  char first_failure[256];
};

struct Shared {
  std::atomic<int> stop{0};
  bool reuse_names = false;
  WorkerStats workers[kWorkers];
};

void note_failure(WorkerStats& w, const char* name, const char* what, int err) {
  if (w.failures.fetch_add(1) == 0)
    std::snprintf(w.first_failure, sizeof w.first_failure, "%s: %s (%s)", name, what,
                  std::strerror(err));
}

// Checks `rounds` times, ~200 us apart, that `name` still names our file `mine`.
bool check_name(WorkerStats& w, int dirfd, const char* name, const struct stat& mine, int rounds) {
  for (int k = 0; k < rounds; ++k) {
    struct stat now;
    w.checks.fetch_add(1, std::memory_order_relaxed);
    if (::fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0) {
      note_failure(w, name, "held segment's name vanished", errno);
      return false;
    }
    if (now.st_ino != mine.st_ino || now.st_dev != mine.st_dev) {
      note_failure(w, name, "held segment's name now names another file", 0);
      return false;
    }
    struct timespec ts {
      0, 200 * 1000
    };
    ::nanosleep(&ts, nullptr);
  }
  return true;
}

// One worker's loop; runs in a forked child (or a thread of it that unshared its fd table).
void worker_loop(Shared& shared, int index, int dirfd, HoldStyle style) {
  WorkerStats& w = shared.workers[index];
  char name[64];
  for (unsigned long iter = 0; !shared.stop.load(std::memory_order_relaxed); ++iter) {
    std::snprintf(name, sizeof name, "w%d-%lu", index, shared.reuse_names ? iter % 3 : iter);
    int fd = ::openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      note_failure(w, name, "create", errno);
      continue;
    }
    struct stat mine;
    ::fstat(fd, &mine);
    if (::fchown(fd, kUid, kGid) != 0 || ::ftruncate(fd, 4096) != 0)
      note_failure(w, name, "fchown/ftruncate", errno);
    // Phase 1: hold by fd for a varying while (mostly up to ~1.5 ms, every fifth segment
    // ~10 ms so that sweeps often list a segment long before they scan its holder), checking
    // the name.
    int rounds = 1 + static_cast<int>(iter % 8) + (iter % 5 == 0 ? 40 : 0);
    bool ok = check_name(w, dirfd, name, mine, rounds);
    // The transition: mmap (and, for kMmapThenClose, close: the hold moves from the fd table
    // to the mappings, which a scan that reads maps before fds can miss).
    void* map = MAP_FAILED;
    if (style == kMmapThenClose || style == kFdAndMmap) {
      map = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (map == MAP_FAILED) {
        note_failure(w, name, "mmap", errno);
      } else {
        static_cast<char*>(map)[0] = 'H';  // "held" marker in the segment itself
      }
    }
    if (style == kMmapThenClose && map != MAP_FAILED) {
      ::close(fd);  // from here on only the mapping holds it
      fd = -1;
    }
    // Phase 2: hold on for a little longer.
    if (ok) check_name(w, dirfd, name, mine, 1 + static_cast<int>(iter % 3));
    // Remove our own name while still holding it, then let go.
    if (::unlinkat(dirfd, name, 0) != 0) note_failure(w, name, "own unlink failed", errno);
    if (map != MAP_FAILED) ::munmap(map, 4096);
    if (fd >= 0) ::close(fd);
    w.iterations.fetch_add(1, std::memory_order_relaxed);
  }
}

[[noreturn]] void worker_main(Shared& shared, int index, int dirfd) {
  // Two workers of the open-mmap-close style: the transition that is easiest to miss.
  auto style = index >= 4 ? kMmapThenClose : static_cast<HoldStyle>(index % 4);
  if (style == kUnsharedThread) {
    // The main thread's table (what /proc/PID/fd shows) never has the segment open.
    std::thread t([&] {
      if (::unshare(CLONE_FILES) != 0) note_failure(shared.workers[index], "-", "unshare", errno);
      worker_loop(shared, index, dirfd, kFdOnly);
    });
    t.join();
  } else {
    worker_loop(shared, index, dirfd, style);
  }
  ::_exit(0);
}

void churn(bool reuse_names, bool judge_late) {
  TempShmDir dir;
  ASSERT_GE(dir.fd(), 0);
  for (int i = 0; i < kLitter; ++i)
    make_segment(dir.fd(), "litter-" + std::to_string(i), 0600, kUid, kGid);
  // Not ours to sweep: another uid's private segment, root's segment.
  make_segment(dir.fd(), "foreign-65533", 0600, 65533, 65533);
  make_segment(dir.fd(), "foreign-root", 0600, 0, 0);

  void* mem =
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* shared = new (mem) Shared();
  shared->reuse_names = reuse_names;
  RunOptions opts;
  if (judge_late) opts.extra_env.push_back("REAP_TEST_JUDGE_LATE_ABOVE=0");
  ChildGuard guard;
  std::vector<pid_t> workers;
  for (int i = 0; i < kWorkers; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) worker_main(*shared, i, dir.fd());
    guard.track(pid);
    workers.push_back(pid);
  }

  // Sweep back to back for about three seconds.
  int runs = 0;
  bool litter_gone_after_first = false;
  std::vector<std::string> bad_lines;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    auto r = run_reap({"--shm-only", "--shm-dir", dir.path(), "--uid", std::to_string(kUid)}, opts);
    ++runs;
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    for (const auto& line : [&] {
           std::vector<std::string> ls;
           size_t pos = 0;
           while (pos < r.out.size()) {
             size_t nl = r.out.find('\n', pos);
             if (nl == std::string::npos) nl = r.out.size();
             ls.push_back(r.out.substr(pos, nl - pos));
             pos = nl + 1;
           }
           return ls;
         }()) {
      // A worker's name reported removed by reap itself (not "already gone") is a held
      // segment unlinked; so is a foreign segment touched at all.
      if (line.rfind("shm w", 0) == 0 && line.size() > 10 &&
          line.compare(line.size() - 10, 10, ": unlinked") == 0)
        bad_lines.push_back(line);
      if (line.rfind("shm foreign", 0) == 0 &&
          line.find(": kept: owned by uid") == std::string::npos)
        bad_lines.push_back(line);
    }
    if (runs == 1) {
      litter_gone_after_first = true;
      for (const auto& n : dir.names())
        if (n.rfind("litter-", 0) == 0) litter_gone_after_first = false;
    }
  }
  shared->stop.store(1);
  for (pid_t pid : workers) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker " << pid;
  }

  unsigned long total_iterations = 0, total_checks = 0;
  for (int i = 0; i < kWorkers; ++i) {
    const auto& w = shared->workers[i];
    total_iterations += w.iterations;
    std::printf("[ churn    ] worker %d: %lu segments, %lu checks\n", i, w.iterations.load(),
                w.checks.load());
    total_checks += w.checks;
    EXPECT_EQ(w.failures.load(), 0u) << "worker " << i << " (hold style " << (i >= 4 ? 1 : i % 4)
                                     << "), first failure: " << w.first_failure;
    EXPECT_GT(w.iterations.load(), 50u) << "worker " << i << " barely ran";
  }
  EXPECT_TRUE(bad_lines.empty()) << bad_lines.size() << " bad report lines, first: "
                                 << (bad_lines.empty() ? "" : bad_lines.front());
  EXPECT_GE(runs, built_with_asan() ? 2 : 5) << "too few sweeps overlapped the churn";
  EXPECT_TRUE(litter_gone_after_first) << "unheld litter survived a full sweep";
  auto left = dir.names();
  EXPECT_EQ(left, (std::set<std::string>{"foreign-65533", "foreign-root"}));
  std::printf("[ churn    ] %d sweeps, %lu segments created, %lu held-name checks\n", runs,
              total_iterations, total_checks);
  shared->~Shared();
  ::munmap(mem, sizeof(Shared));
}

TEST(ChurnShm, HeldNamesSurviveBackToBackSweepsAndLitterGoes) {
  churn(false, false);
}

TEST(ChurnShm, ReusedNamesSurviveLateJudgementAndLitterGoes) {
  churn(true, true);
}

}  // namespace
}  // namespace reap_stress
