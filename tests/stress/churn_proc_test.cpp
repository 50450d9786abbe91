// Churn (processes): a tree whose members keep forking and exiting (some ignore SIGINT, some
// fork a fresh child when SIGINT arrives) while `reap -p ROOT` runs. Afterwards the tree below
// ROOT is empty, ROOT lives, and a sentinel sibling in the same process group and session
// received no signal at all.
//
// ROOT is a child subreaper, so a member orphaned mid-churn stays in the subtree (below ROOT)
// instead of escaping to init: "the tree is empty" is then exact.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <map>
#include <thread>

#include "stress_util.hpp"

namespace reap_stress {
namespace {

constexpr int kSpawners = 4;

void nap_us(long us) {
  struct timespec ts {
    0, us * 1000
  };
  ::nanosleep(&ts, nullptr);
}

void fork_on_int(int) {
  // Async-signal-safe: a fresh child that dies on the next SIGINT, then exit.
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGINT, SIG_DFL);
    for (;;) ::pause();
  }
  ::_exit(0);
}

// A spawner: forks short-lived children (some of which fork a grandchild) forever, and now
// and then one that stays (with, half the time, a grandchild that stays too).
[[noreturn]] void spawner(int index) {
  if (index == 1) ::signal(SIGINT, SIG_IGN);
  if (index == 2) ::signal(SIGINT, fork_on_int);
  unsigned seed = static_cast<unsigned>(::getpid());
  for (unsigned n = 0;; ++n) {
    seed = seed * 1103515245u + 12345u;
    pid_t c = ::fork();
    if (c == 0) {
      if (n % 8 == 0 && n < 160) {  // some stay until signalled (at most 20 per spawner)
        if (seed % 2 == 0 && ::fork() == 0) {
          for (;;) ::pause();
        }
        for (;;) ::pause();
      }
      if (seed % 3 == 0 && ::fork() == 0) {  // a grandchild that outlives its parent
        nap_us(5000 + seed % 20000);
        ::_exit(0);
      }
      nap_us(2000 + (seed >> 8) % 20000);
      ::_exit(0);
    }
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    nap_us(1000);
  }
}

// ROOT: subreaper, starts the spawners, reports "ready", then only collects children.
[[noreturn]] void root_main(int ready_fd) {
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  for (int i = 0; i < kSpawners; ++i)
    if (::fork() == 0) {
      ::close(ready_fd);
      spawner(i);
    }
  write_all(ready_fd, "ready\n", 6);
  ::close(ready_fd);
  for (;;) {
    if (::waitpid(-1, nullptr, 0) < 0 && errno == ECHILD) nap_us(1000);
  }
}

int g_sentinel_fd = -1;
void sentinel_record(int sig) {
  char c = static_cast<char>(sig);
  ssize_t n = ::write(g_sentinel_fd, &c, 1);
  (void)n;
}

// Every process whose parent chain reaches `root` (root itself excluded), with its state.
std::map<pid_t, char> descendants(pid_t root) {
  std::map<pid_t, pid_t> parent;
  for (pid_t p : all_pids()) parent[p] = proc_ppid(p);
  std::map<pid_t, char> out;
  for (const auto& [pid, pp] : parent) {
    pid_t up = pp;
    for (int depth = 0; up > 1 && depth < 64; ++depth) {
      if (up == root) {
        out[pid] = proc_state(pid);
        break;
      }
      auto it = parent.find(up);
      up = it == parent.end() ? -1 : it->second;
    }
  }
  return out;
}

TEST(ChurnProcesses, ForkingTreeIsEmptiedAndNothingOutsideIsSignalled) {
  ChildGuard guard;
  // The sentinel: a sibling of ROOT in the same process group and session, recording signals.
  int sig_pipe[2];
  ASSERT_EQ(::pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK), 0);
  pid_t sentinel = ::fork();
  ASSERT_GE(sentinel, 0);
  if (sentinel == 0) {
    ::close(sig_pipe[0]);
    g_sentinel_fd = sig_pipe[1];
    for (int s : {SIGINT, SIGTERM, SIGCONT, SIGHUP, SIGQUIT}) ::signal(s, sentinel_record);
    for (;;) ::pause();
  }
  guard.track(sentinel);
  ::close(sig_pipe[1]);

  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t root = ::fork();
  ASSERT_GE(root, 0);
  if (root == 0) {
    ::close(ready[0]);
    root_main(ready[1]);
  }
  guard.track(root);
  ::close(ready[1]);
  ASSERT_TRUE(read_line(ready[0], std::chrono::seconds(5))) << "ROOT did not start";
  ::close(ready[0]);

  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it churn
  size_t before = descendants(root).size();
  EXPECT_GE(before, static_cast<size_t>(kSpawners)) << "the tree did not grow";

  auto r = run_reap({"-p", std::to_string(root), "-g", "0.3", "--kill-wait", "2", "--json"});
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << describe(r);
  auto j = parse_report(r);
  ASSERT_FALSE(j.is_null());
  EXPECT_EQ(j["summary"]["survived"], 0) << describe(r);
  EXPECT_EQ(r.exit_code, 1) << "the SIGINT-ignoring spawner needed SIGKILL\n" << describe(r);
  size_t items = 0;
  for (const auto& item : j["processes"]["items"]) {
    ++items;
    EXPECT_NE(item["pid"], root);
    EXPECT_NE(item["pid"], sentinel);
  }
  EXPECT_GE(items, static_cast<size_t>(kSpawners));

  // ROOT collects its (adopted) children; give it a moment to reap the last zombies.
  std::map<pid_t, char> left;
  for (int i = 0; i < 100; ++i) {
    left = descendants(root);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string listing;
  for (const auto& [pid, st] : left) listing += " " + std::to_string(pid) + "(" + st + ")";
  EXPECT_TRUE(left.empty()) << "left below ROOT:" << listing << "\n" << describe(r);
  EXPECT_TRUE(running(root)) << "ROOT itself was signalled";
  EXPECT_TRUE(running(sentinel)) << "the sentinel sibling was killed";
  char got[16];
  ssize_t n = ::read(sig_pipe[0], got, sizeof got);
  EXPECT_LE(n, 0) << "the sentinel received signal " << (n > 0 ? static_cast<int>(got[0]) : 0);
  ::close(sig_pipe[0]);
  std::printf("[ churn    ] %zu members before, %zu report items, reap took %.3f s\n", before,
              items, r.seconds);
}

}  // namespace
}  // namespace reap_stress
