// Google Benchmark micro-benchmarks for the /proc text parsers (src/os/proc_parse.hpp), on
// fixed, realistic inputs: a python3 process's stat and status, a 1000-line maps text of a
// process with many libraries and shm segments, a pytest cmdline and typical fd link targets.
//
//   build/bin/bench_proc_parse [--benchmark_min_time=0.2]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "os/proc_parse.hpp"

namespace {

using namespace std::string_view_literals;

constexpr std::string_view kStat =
    "48213 (python3 (worker)) S 1 48190 2843 34816 48190 4194560 81234 0 12 0 1523 341 0 0 "
    "20 0 9 0 7345123 1234567168 45678 18446744073709551615 94800000000000 94800002000000 "
    "140730000000000 0 0 0 0 16781312 134234626 0 0 0 17 1 0 0 0 0 0 94800003000000 "
    "94800003100000 94800010000000 140730000001000 140730000001200 140730000001200 "
    "140730000004000 0\n";

constexpr std::string_view kStatus =
    "Name:\tpython3\n"
    "Umask:\t0022\n"
    "State:\tS (sleeping)\n"
    "Tgid:\t48213\n"
    "Ngid:\t0\n"
    "Pid:\t48213\n"
    "PPid:\t1\n"
    "TracerPid:\t0\n"
    "Uid:\t1000\t1000\t1000\t1000\n"
    "Gid:\t1000\t1000\t1000\t1000\n"
    "FDSize:\t256\n"
    "Groups:\t4 24 27 30 46 100 118 1000 \n"
    "NStgid:\t48213\n"
    "NSpid:\t48213\n"
    "NSpgid:\t48190\n"
    "NSsid:\t2843\n"
    "Kthread:\t0\n"
    "VmPeak:\t 1305672 kB\n"
    "VmSize:\t 1205672 kB\n"
    "VmLck:\t       0 kB\n"
    "VmPin:\t       0 kB\n"
    "VmHWM:\t  182712 kB\n"
    "VmRSS:\t  182712 kB\n"
    "RssAnon:\t  120312 kB\n"
    "RssFile:\t   60112 kB\n"
    "RssShmem:\t    2288 kB\n"
    "VmData:\t  400360 kB\n"
    "VmStk:\t     132 kB\n"
    "VmExe:\t    2820 kB\n"
    "VmLib:\t   51528 kB\n"
    "VmPTE:\t     744 kB\n"
    "VmSwap:\t       0 kB\n"
    "HugetlbPages:\t       0 kB\n"
    "CoreDumping:\t0\n"
    "THP_enabled:\t1\n"
    "untag_mask:\t0xffffffffffffffff\n"
    "Threads:\t9\n"
    "SigQ:\t0/96365\n"
    "SigPnd:\t0000000000000000\n"
    "ShdPnd:\t0000000000000000\n"
    "SigBlk:\t0000000000000000\n"
    "SigIgn:\t0000000001001000\n"
    "SigCgt:\t0000000180000002\n"
    "CapInh:\t0000000000000000\n"
    "CapPrm:\t0000000000000000\n"
    "CapEff:\t0000000000000000\n"
    "CapBnd:\t000001ffffffffff\n"
    "CapAmb:\t0000000000000000\n"
    "NoNewPrivs:\t0\n"
    "Seccomp:\t0\n"
    "Seccomp_filters:\t0\n"
    "Speculation_Store_Bypass:\tthread vulnerable\n"
    "SpeculationIndirectBranch:\tconditional enabled\n"
    "Cpus_allowed:\t3\n"
    "Cpus_allowed_list:\t0-1\n"
    "Mems_allowed:\t00000000,00000001\n"
    "Mems_allowed_list:\t0\n"
    "voluntary_ctxt_switches:\t12345\n"
    "nonvoluntary_ctxt_switches:\t678\n";

// A 1000-line maps text shaped like a big python process: shared libraries (4 consecutive
// lines each, same file), anonymous arenas between them, shm segments (one line each,
// alternating with guard/anon lines), and the special mappings at the end.
std::string make_maps(int lines) {
  std::string out;
  char buf[512];
  unsigned long addr = 0x55d0c0000000UL;
  int n = 0;
  int lib = 0;
  int seg = 0;
  auto line = [&](const char* perms, unsigned long off, const char* dev, unsigned long ino,
                  const std::string& path) {
    unsigned long start = addr;
    addr += 0x1000UL * static_cast<unsigned long>(1 + (n % 7));
    int len = std::snprintf(buf, sizeof buf, "%012lx-%012lx %s %08lx %s %lu", start, addr, perms,
                            off, dev, ino);
    out += buf;
    if (!path.empty()) {
      // the kernel pads the path column to start at column 74
      out.append(len < 73 ? static_cast<size_t>(73 - len) : 1, ' ');
      out += path;
    }
    out += '\n';
    ++n;
  };
  line("r--p", 0, "fe:01", 1311020, "/usr/bin/python3.11");
  line("r-xp", 0x6f000, "fe:01", 1311020, "/usr/bin/python3.11");
  line("r--p", 0x2e0000, "fe:01", 1311020, "/usr/bin/python3.11");
  line("rw-p", 0x52e000, "fe:01", 1311020, "/usr/bin/python3.11");
  line("rw-p", 0, "00:00", 0, "[heap]");
  while (n < lines - 4) {
    switch (n % 10) {
      case 0:
      case 1:
      case 2:
      case 3: {
        std::string path =
            "/usr/lib/python3/dist-packages/numpy/core/_multiarray_umath.cpython-"
            "311-x86_64-linux-gnu.so." +
            std::to_string(lib);
        unsigned long ino = 2000000UL + static_cast<unsigned long>(lib);
        static const char* const kPerms[] = {"r--p", "r-xp", "r--p", "rw-p"};
        line(kPerms[n % 10], static_cast<unsigned long>(n % 10) * 0x10000UL, "fe:01", ino, path);
        if (n % 10 == 3) ++lib;
        break;
      }
      case 4:
      case 6:
      case 8:
        line("rw-p", 0, "00:00", 0, "");
        break;
      case 5:
      case 7: {
        std::string path = "/dev/shm/psm_" + std::to_string(0x5eed0000 + seg);
        line("rw-s", 0, "00:1b", 1000UL + static_cast<unsigned long>(seg), path);
        ++seg;
        break;
      }
      default:
        line("---p", 0, "00:00", 0, "");
        break;
    }
  }
  line("rw-p", 0, "00:00", 0, "[stack]");
  line("r--p", 0, "00:00", 0, "[vvar]");
  line("r--p", 0, "00:00", 0, "[vvar_vclock]");
  line("r-xp", 0, "00:00", 0, "[vdso]");
  return out;
}

const std::string& maps_text() {
  static const std::string text = make_maps(1000);
  return text;
}

std::vector<std::string_view> maps_lines() {
  std::vector<std::string_view> v;
  std::string_view t = maps_text();
  while (!t.empty()) {
    auto nl = t.find('\n');
    v.push_back(t.substr(0, nl));
    t = nl == std::string_view::npos ? std::string_view{} : t.substr(nl + 1);
  }
  return v;
}

void BM_parse_stat(benchmark::State& state) {
  for (auto _ : state) {
    auto r = reap::os::parse_stat(kStat);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kStat.size()));
}
BENCHMARK(BM_parse_stat);

void BM_parse_status(benchmark::State& state) {
  for (auto _ : state) {
    auto r = reap::os::parse_status(kStatus);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kStatus.size()));
}
BENCHMARK(BM_parse_status);

// One line of each kind, round-robin over the 1000 lines of the maps text.
void BM_parse_maps_line(benchmark::State& state) {
  auto lines = maps_lines();
  size_t i = 0;
  for (auto _ : state) {
    auto r = reap::os::parse_maps_line(lines[i]);
    benchmark::DoNotOptimize(r);
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_parse_maps_line);

void BM_for_each_maps_file_1000_lines(benchmark::State& state) {
  const std::string& text = maps_text();
  size_t files = 0;
  for (auto _ : state) {
    size_t count = 0;
    reap::os::for_each_maps_file(text, [&](const reap::os::MapsFileRef& ref) {
      benchmark::DoNotOptimize(ref);
      ++count;
    });
    files = count;
  }
  state.counters["files"] = static_cast<double>(files);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 1000);
}
BENCHMARK(BM_for_each_maps_file_1000_lines);

void BM_split_cmdline(benchmark::State& state) {
  static constexpr std::string_view kCmdline =
      "/usr/bin/python3\0-m\0pytest\0-x\0-p\0no:cacheprovider\0--tb=short\0"
      "tests/integration/test_shared_memory.py::test_many_segments[1000-10]\0"sv;
  for (auto _ : state) {
    auto r = reap::os::split_cmdline(kCmdline);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(kCmdline.size()));
}
BENCHMARK(BM_split_cmdline);

void BM_parse_fd_link(benchmark::State& state) {
  static constexpr std::string_view kTargets[] = {
      "/dev/shm/psm_5eed1234",
      "/dev/shm/psm_5eed1235 (deleted)",
      "socket:[123456789]",
      "pipe:[77123]",
      "anon_inode:[eventfd]",
      "/dev/null",
      "/home/user/src/project/build/tests/data/fixture with spaces.bin",
      "anon_inode:[pidfd]",
  };
  size_t i = 0;
  for (auto _ : state) {
    auto r = reap::os::parse_fd_link(kTargets[i]);
    benchmark::DoNotOptimize(r);
    if (++i == std::size(kTargets)) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_parse_fd_link);

void BM_parse_pid(benchmark::State& state) {
  static constexpr std::string_view kNames[] = {"1", "48213", "self", "4194303", "sys"};
  size_t i = 0;
  for (auto _ : state) {
    auto r = reap::os::parse_pid(kNames[i]);
    benchmark::DoNotOptimize(r);
    if (++i == std::size(kNames)) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_parse_pid);

}  // namespace

BENCHMARK_MAIN();
