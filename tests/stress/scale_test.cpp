// Scale: 100,000 files in the sweep dir; a process with a 1 MiB cmdline; a holder with 5,000
// mappings of one segment plus 1,000 mapped files and 10,000 open fds. reap must not crash,
// must report every item correctly, and its peak RSS (wait4 ru_maxrss) stays under a bound:
// 64 MiB, or 4x that in AddressSanitizer builds (shadow memory and quarantine).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "stress_util.hpp"

namespace reap_stress {
namespace {

constexpr uid_t kUid = 65534;
constexpr gid_t kGid = 65534;

// 64 MiB for reap itself; more for a sanitizer build of it (ASan here, or a factor given in
// REAP_STRESS_RSS_FACTOR when REAP_BIN names a TSan build).
long rss_bound_kib() {
  long factor = built_with_asan() ? 4 : 1;
  if (const char* f = std::getenv("REAP_STRESS_RSS_FACTOR")) factor *= std::max(1L, std::atol(f));
  return factor * 64 * 1024;
}

std::map<std::string, int> verdict_counts(const nlohmann::json& j) {
  std::map<std::string, int> c;
  for (const auto& item : j["shm"]["items"]) c[item["verdict"].get<std::string>()]++;
  return c;
}

TEST(Scale, HundredThousandSegments) {
  constexpr int kFiles = 100000;
  constexpr int kHeld = 100;
  TempShmDir dir;
  ASSERT_GE(dir.fd(), 0);
  for (int i = 0; i < kFiles; ++i)
    make_segment(dir.fd(), "seg-" + std::to_string(i), 0600, kUid, kGid, 0);
  // A holder of the first kHeld: even ones by fd, odd ones by mapping only.
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ChildGuard guard;
  pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    for (int i = 0; i < kHeld; ++i) {
      int fd = ::openat(dir.fd(), ("seg-" + std::to_string(i)).c_str(), O_RDWR);
      if (fd < 0) ::_exit(1);
      if (i % 2 == 1) {
        if (::ftruncate(fd, 4096) != 0 ||
            ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
          ::_exit(1);
        ::close(fd);
      }
    }
    write_all(ready[1], "ready\n", 6);
    for (;;) ::pause();
  }
  guard.track(holder);
  ASSERT_TRUE(read_line(ready[0], std::chrono::seconds(10)));

  const std::vector<std::string> base{"--shm-only", "--shm-dir", dir.path(), "--uid", "65534"};
  auto args = base;
  args.insert(args.end(), {"-n", "--json"});
  auto dry = run_reap(args);
  ASSERT_EQ(dry.exit_code, 0) << describe(dry);
  auto j = parse_report(dry);
  ASSERT_FALSE(j.is_null());
  auto counts = verdict_counts(j);
  EXPECT_EQ(counts["would_unlink"], kFiles - kHeld);
  EXPECT_EQ(counts["kept"], kHeld);
  EXPECT_EQ(j["shm"]["items"].size(), static_cast<size_t>(kFiles));
  for (const auto& item : j["shm"]["items"])
    if (item["verdict"] == "kept") {
      EXPECT_EQ(item["holder_pid"], holder) << item.dump();
      int index = std::stoi(item["name"].get<std::string>().substr(4));
      EXPECT_LT(index, kHeld) << item.dump();
      EXPECT_EQ(item["reason"].get<std::string>().rfind(index % 2 ? "mapped by" : "open by", 0), 0u)
          << item.dump();
    }
  EXPECT_EQ(dir.names().size(), static_cast<size_t>(kFiles)) << "a dry run removed something";

  auto real = run_reap(base);
  ASSERT_EQ(real.exit_code, 0) << describe(real);
  EXPECT_EQ(dir.names().size(), static_cast<size_t>(kHeld));
  EXPECT_NE(real.out.find("summary: shm 99900 unlinked, 100 kept, 0 errors"), std::string::npos)
      << real.out.substr(real.out.size() > 300 ? real.out.size() - 300 : 0);
  // 100,000 entries (listing, candidate set, plan, report) cost ~60 MiB today: bounded at
  // 1.5x the general bound so a regression still shows.
  EXPECT_LT(real.maxrss_kib, rss_bound_kib()) << "human-report run";
  EXPECT_LT(dry.maxrss_kib, rss_bound_kib()) << "--json run (items are streamed)";
  std::printf("[ scale    ] 100k segments: dry --json %.2f s, %ld KiB; real %.2f s, %ld KiB\n",
              dry.seconds, dry.maxrss_kib, real.seconds, real.maxrss_kib);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(Scale, MebibyteCommandLine) {
  // 16 arguments of 64 KiB (each under MAX_ARG_STRLEN): 1 MiB of argv.
  std::vector<std::string> args;
  for (int i = 0; i < 16; ++i) args.push_back(std::string(65536 - 1, static_cast<char>('a' + i)));
  auto argv = helper_argv("sleep", args);
  // A middle process (the --parent) whose child execs the helper.
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ChildGuard guard;
  pid_t middle = ::fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    if (::fork() == 0) {
      ::dup2(ready[1], 3);
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    for (;;) ::pause();
  }
  guard.track(middle);
  ::close(ready[1]);
  auto line = read_line(ready[0], std::chrono::seconds(10));
  ASSERT_TRUE(line) << "the helper did not start";
  pid_t helper = static_cast<pid_t>(std::stol(line->substr(6)));
  guard.track(helper);

  auto r = run_reap({"-p", std::to_string(middle), "-g", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto j = parse_report(r);
  ASSERT_FALSE(j.is_null());
  ASSERT_EQ(j["processes"]["items"].size(), 1u) << r.out.substr(0, 2000);
  const auto& item = j["processes"]["items"][0];
  EXPECT_EQ(item["pid"], helper);
  EXPECT_EQ(item["verdict"], "reaped");
  ASSERT_EQ(item["cmdline"].size(), argv.size());
  for (size_t i = 0; i < argv.size(); ++i) EXPECT_EQ(item["cmdline"][i], argv[i]) << i;
  EXPECT_LT(r.maxrss_kib, rss_bound_kib());
  std::printf("[ scale    ] 1 MiB cmdline: %.2f s, %ld KiB\n", r.seconds, r.maxrss_kib);
  ::close(ready[0]);
}

TEST(Scale, ThousandsOfMappingsAndTenThousandFds) {
  constexpr int kPages = 5000, kMapped = 1000, kOpened = 3000, kLitter = 2000;
  TempShmDir dir;
  ASSERT_GE(dir.fd(), 0);
  const long page = ::sysconf(_SC_PAGESIZE);
  make_segment(dir.fd(), "big", 0600, kUid, kGid, 2 * kPages * page);
  for (int i = 0; i < kMapped; ++i)
    make_segment(dir.fd(), "m-" + std::to_string(i), 0600, kUid, kGid);
  for (int i = 0; i < kOpened; ++i)
    make_segment(dir.fd(), "f-" + std::to_string(i), 0600, kUid, kGid);
  for (int i = 0; i < kLitter; ++i)
    make_segment(dir.fd(), "l-" + std::to_string(i), 0600, kUid, kGid);

  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ChildGuard guard;
  pid_t holder = ::fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    struct rlimit rl {
      20000, 20000
    };
    ::setrlimit(RLIMIT_NOFILE, &rl);
    int big = ::openat(dir.fd(), "big", O_RDWR);
    // Every other page, so no two mappings can merge into one VMA.
    for (int i = 0; i < kPages; ++i)
      if (::mmap(nullptr, static_cast<size_t>(page), PROT_READ, MAP_SHARED, big, 2 * i * page) ==
          MAP_FAILED)
        ::_exit(2);
    ::close(big);
    for (int i = 0; i < kMapped; ++i) {
      int fd = ::openat(dir.fd(), ("m-" + std::to_string(i)).c_str(), O_RDWR);
      if (fd < 0 || ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) ::_exit(3);
      ::close(fd);
    }
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < kOpened; ++i)
        if (::openat(dir.fd(), ("f-" + std::to_string(i)).c_str(), O_RDONLY) < 0) ::_exit(4);
    for (int i = 0; i < 1000; ++i)
      if (::open("/dev/null", O_RDONLY) < 0) ::_exit(5);
    write_all(ready[1], "ready\n", 6);
    for (;;) ::pause();
  }
  guard.track(holder);
  ASSERT_TRUE(read_line(ready[0], std::chrono::seconds(20))) << "holder failed to set up";
  std::string maps = slurp("/proc/" + std::to_string(holder) + "/maps");
  size_t map_lines = static_cast<size_t>(std::count(maps.begin(), maps.end(), '\n'));
  ASSERT_GE(map_lines, static_cast<size_t>(kPages + kMapped));
  size_t fds = 0;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(holder) + "/fd")) {
    (void)e;
    ++fds;
  }
  ASSERT_GE(fds, 10000u);

  auto r = run_reap({"--shm-only", "--shm-dir", dir.path(), "--uid", "65534", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto j = parse_report(r);
  ASSERT_FALSE(j.is_null());
  int kept_mapped = 0, kept_open = 0, unlinked = 0, wrong = 0;
  std::string first_wrong;
  for (const auto& item : j["shm"]["items"]) {
    std::string name = item["name"], verdict = item["verdict"], reason = item["reason"];
    bool ok = false;
    if (name == "big" || name.rfind("m-", 0) == 0) {
      ok = verdict == "kept" && item["holder_pid"] == holder && reason.rfind("mapped by", 0) == 0;
      kept_mapped += ok;
    } else if (name.rfind("f-", 0) == 0) {
      ok = verdict == "kept" && item["holder_pid"] == holder && reason.rfind("open by", 0) == 0;
      kept_open += ok;
    } else {
      ok = verdict == "unlinked";
      unlinked += ok;
    }
    if (!ok && wrong++ == 0) first_wrong = item.dump();
  }
  EXPECT_EQ(wrong, 0) << "first wrong item: " << first_wrong;
  EXPECT_EQ(kept_mapped, kMapped + 1);
  EXPECT_EQ(kept_open, kOpened);
  EXPECT_EQ(unlinked, kLitter);
  EXPECT_EQ(dir.names().size(), static_cast<size_t>(1 + kMapped + kOpened));
  EXPECT_LT(r.maxrss_kib, rss_bound_kib());
  std::printf("[ scale    ] holder with %zu mappings and %zu fds: %.2f s, %ld KiB\n", map_lines,
              fds, r.seconds, r.maxrss_kib);
  ::close(ready[0]);
  ::close(ready[1]);
}

}  // namespace
}  // namespace reap_stress
