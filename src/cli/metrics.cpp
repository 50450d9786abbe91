#include "cli/metrics.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <map>
#include <string_view>

#include <fmt/format.h>

#include "util/fd.hpp"

namespace reap::cli {
namespace {

using core::ProcessVerdictWord;
using core::ShmVerdictWord;

class Writer {
 public:
  explicit Writer(uid_t uid) : uid_(uid) {}
  void family(const char* name, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
  }
  void sample(const char* name, double value, const std::string& labels = "") {
    out_ += fmt::format("{}{{uid=\"{}\"{}{}}} {}\n", name, uid_, labels.empty() ? "" : ",", labels,
                        value);
  }
  std::string take() { return std::move(out_); }

 private:
  uid_t uid_;
  std::string out_;
};

}  // namespace

const char* shm_reason_class(const std::string& reason) {
  auto starts = [&](std::string_view p) { return reason.rfind(p, 0) == 0; };
  if (starts("mapped by")) return "mapped";
  if (starts("open by")) return "open";
  if (starts("unverifiable")) return "unverifiable";
  if (starts("owned by")) return "not_owned";
  if (starts("changed ")) return "too_new";
  if (starts("not a regular file")) return "not_regular";
  return "other";
}

std::string render_metrics(const core::Report& r, const MetricsRun& run) {
  Writer w(r.uid);
  w.family("reap_last_run_timestamp_seconds", "Unix time at which the last reap run finished.");
  w.sample("reap_last_run_timestamp_seconds", run.finished_unix);
  w.family("reap_last_run_duration_seconds", "How long the last reap run took.");
  w.sample("reap_last_run_duration_seconds", run.duration);
  w.family("reap_last_run_exit_code",
           "Exit status of the last run (0 clean, 1 SIGKILL needed or unlink failed).");
  w.sample("reap_last_run_exit_code", run.exit_code);
  w.family("reap_last_run_dry_run", "1 when the last run was a dry run (--dry-run, --check).");
  w.sample("reap_last_run_dry_run", r.dry_run ? 1 : 0);

  if (r.process_phase) {
    w.family("reap_processes", "Processes in the last run's report, by verdict.");
    const std::pair<const char*, ProcessVerdictWord> verdicts[] = {
        {"reaped", ProcessVerdictWord::Reaped},
        {"killed", ProcessVerdictWord::Killed},
        {"survived", ProcessVerdictWord::Survived},
        {"gone", ProcessVerdictWord::Gone},
        {"would_reap", ProcessVerdictWord::WouldReap},
        {"would_kill", ProcessVerdictWord::WouldKill},
        {"kept", ProcessVerdictWord::Kept},
        {"error", ProcessVerdictWord::Error}};
    for (const auto& [name, v] : verdicts)
      w.sample("reap_processes", static_cast<double>(r.count(v)),
               fmt::format("verdict=\"{}\"", name));
  }

  if (r.shm_phase) {
    // Counts by verdict and, for kept and skipped segments, by class of reason.
    std::map<std::pair<std::string, std::string>, double> segments;
    for (const char* c : {"mapped", "open", "unverifiable", "not_owned", "too_new", "other"})
      segments[{"kept", c}] = 0;
    segments[{"skipped", "not_regular"}] = 0;
    segments[{"skipped", "other"}] = 0;
    for (const char* v : {"unlinked", "would_unlink", "gone", "error"}) segments[{v, ""}] = 0;
    double freed = 0, would_free = 0, kept_bytes = 0;
    for (const auto& s : r.shm) {
      switch (s.verdict) {
        case ShmVerdictWord::Unlinked:
          segments[{"unlinked", ""}] += 1;
          freed += static_cast<double>(s.size);
          break;
        case ShmVerdictWord::WouldUnlink:
          segments[{"would_unlink", ""}] += 1;
          would_free += static_cast<double>(s.size);
          break;
        case ShmVerdictWord::Error:
          segments[{"error", ""}] += 1;
          break;
        case ShmVerdictWord::Gone:  // removed by someone else between the scan and the unlink
          segments[{"gone", ""}] += 1;
          break;
        case ShmVerdictWord::Kept:
          segments[{"kept", shm_reason_class(s.reason)}] += 1;
          kept_bytes += static_cast<double>(s.size);
          break;
        case ShmVerdictWord::Skipped: {
          std::string c = shm_reason_class(s.reason);
          segments[{"skipped", c == "not_regular" ? c : "other"}] += 1;
          break;
        }
      }
    }
    w.family("reap_shm_segments",
             "Entries of the sweep directory in the last run, by verdict and reason class.");
    for (const auto& [key, n] : segments)
      w.sample("reap_shm_segments", n,
               key.second.empty()
                   ? fmt::format("verdict=\"{}\"", key.first)
                   : fmt::format("verdict=\"{}\",reason=\"{}\"", key.first, key.second));
    w.family("reap_shm_freed_bytes", "Bytes of the segments the last run unlinked.");
    w.sample("reap_shm_freed_bytes", freed);
    w.family("reap_shm_would_free_bytes", "Bytes of the segments a dry run would unlink.");
    w.sample("reap_shm_would_free_bytes", would_free);
    w.family("reap_shm_kept_bytes", "Bytes of the segments the last run kept.");
    w.sample("reap_shm_kept_bytes", kept_bytes);
    if (run.deleted_mapped_bytes) {
      w.family("reap_shm_deleted_mapped_bytes",
               "Bytes of unlinked files on the sweep directory's filesystem that processes "
               "still map (freed only when their holders exit).");
      w.sample("reap_shm_deleted_mapped_bytes", static_cast<double>(*run.deleted_mapped_bytes));
    }
    w.family("reap_uninspectable_processes",
             "Processes the last sweep could not inspect (they may keep segments).");
    w.sample("reap_uninspectable_processes", static_cast<double>(r.uninspectable.size()));
  }
  return w.take();
}

std::uint64_t deleted_mapped_bytes(const std::string& proc_root, dev_t dev) {
  util::UniqueFd proc(::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.valid()) return 0;
  DIR* d = ::fdopendir(::fcntl(proc.get(), F_DUPFD_CLOEXEC, 0));
  if (!d) return 0;
  std::map<unsigned long, std::uint64_t> extent;  // inode -> largest mapped end offset
  std::string maps;
  const std::string want_dev = fmt::format("{:02x}:{:02x}", major(dev), minor(dev));
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string name = std::string(e->d_name) + "/maps";
    if (util::read_file_at(proc.get(), name.c_str(), maps) != 0) continue;
    std::string_view rest = maps;
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      constexpr std::string_view kDeleted = " (deleted)";
      if (line.size() < kDeleted.size() || line.substr(line.size() - kDeleted.size()) != kDeleted)
        continue;
      // start-end perms offset dev inode path
      unsigned long long start = 0, end = 0, offset = 0;
      unsigned long inode = 0;
      char perms[8] = {}, devtext[16] = {};
      std::string copy(line);
      if (std::sscanf(copy.c_str(), "%llx-%llx %7s %llx %15s %lu", &start, &end, perms, &offset,
                      devtext, &inode) != 6)
        continue;
      if (want_dev != devtext || inode == 0) continue;
      std::uint64_t top = offset + (end - start);
      auto& e2 = extent[inode];
      if (top > e2) e2 = top;
    }
  }
  ::closedir(d);
  std::uint64_t sum = 0;
  for (const auto& [inode, bytes] : extent) sum += bytes;
  return sum;
}

}  // namespace reap::cli
