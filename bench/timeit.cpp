// bench_timeit: runs one command once and appends its wall time and peak RSS to a TSV file.
//
//   bench_timeit --out FILE --label LABEL [--stdout F] [--stderr F] [--expect 0,1] -- CMD...
//
// Appends "LABEL<TAB>wall_s<TAB>maxrss_kib<TAB>exit<TAB>user_s<TAB>sys_s". The clock runs from
// just before posix_spawn (vfork + exec) to the return of wait4, whose rusage gives the
// child's peak RSS. stdout and stderr go to /dev/null unless named. Exits 3 when the exit
// code (128+N for signal N) is not in --expect (default: any), 2 on usage errors.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "util/clock.hpp"

extern char** environ;

namespace {

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, label, out_path = "/dev/null", err_path = "/dev/null";
  std::set<int> expect;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) break;
    if (a == "--out")
      out = argv[++i];
    else if (a == "--label")
      label = argv[++i];
    else if (a == "--stdout")
      out_path = argv[++i];
    else if (a == "--stderr")
      err_path = argv[++i];
    else if (a == "--expect") {
      std::string list = argv[++i];
      for (char* tok = std::strtok(list.data(), ","); tok; tok = std::strtok(nullptr, ","))
        expect.insert(std::atoi(tok));
    } else {
      break;
    }
  }
  if (out.empty() || label.empty() || i >= argc) {
    std::fprintf(stderr,
                 "usage: bench_timeit --out FILE --label L [--stdout F] [--stderr F] "
                 "[--expect CODES] -- CMD...\n");
    return 2;
  }

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);

  pid_t pid = 0;
  double t0 = reap::util::monotonic_seconds();
  int rc = posix_spawnp(&pid, argv[i], &fa, nullptr, argv + i, environ);
  if (rc != 0) {
    std::fprintf(stderr, "bench_timeit: cannot run %s: %s\n", argv[i], std::strerror(rc));
    return 2;
  }
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) {
    std::perror("bench_timeit: wait4");
    return 2;
  }
  double wall = reap::util::monotonic_seconds() - t0;
  posix_spawn_file_actions_destroy(&fa);

  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE* f = std::fopen(out.c_str(), "a");
  if (!f) {
    std::perror("bench_timeit: open --out");
    return 2;
  }
  std::fprintf(f, "%s\t%.6f\t%ld\t%d\t%.6f\t%.6f\n", label.c_str(), wall, ru.ru_maxrss, code,
               seconds(ru.ru_utime), seconds(ru.ru_stime));
  std::fclose(f);
  if (!expect.empty() && !expect.count(code)) {
    std::fprintf(stderr, "bench_timeit: %s exited with %d (expected one of", label.c_str(), code);
    for (int c : expect) std::fprintf(stderr, " %d", c);
    std::fprintf(stderr, "); stderr in %s\n", err_path.c_str());
    return 3;
  }
  return 0;
}
