#include "cli/sinks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <streambuf>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cli/app.hpp"
#include "cli/metrics.hpp"
#include "cli/output.hpp"
#include "util/clock.hpp"
#include "util/escape.hpp"

namespace reap::cli {
namespace {

using core::ProcessVerdictWord;
using core::ShmVerdictWord;

/// Writes all of `data` to `fd`; false with errno set on failure.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// An ostream buffer that writes to a file descriptor a megabyte at a time, so that a long
/// document (the --json report of a sweep of 1,000,000 segments: over 100 MB) is never held
/// in memory whole. A document under a megabyte goes out in one write(), as before. The
/// first failed write is kept in err(); what follows it is dropped.
class FdWriteBuf : public std::streambuf {
 public:
  explicit FdWriteBuf(int fd) : fd_(fd), buf_(std::size_t{1} << 20) {
    setp(buf_.data(), buf_.data() + buf_.size());
  }
  int err() const { return err_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    std::string_view data(pbase(), static_cast<std::size_t>(pptr() - pbase()));
    setp(buf_.data(), buf_.data() + buf_.size());
    if (err_) return false;
    if (!write_all(fd_, data)) err_ = errno ? errno : EIO;
    return err_ == 0;
  }

  int fd_;
  std::vector<char> buf_;
  int err_ = 0;
};

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string quoted_list(const std::vector<std::string>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i) out += i + 1 == words.size() ? " or " : ", ";
    out += util::escape_for_terminal(words[i]);
  }
  return out;
}

}  // namespace

bool anything_to_do(const core::Report& r) {
  for (auto v :
       {ProcessVerdictWord::Reaped, ProcessVerdictWord::Killed, ProcessVerdictWord::Survived,
        ProcessVerdictWord::WouldReap, ProcessVerdictWord::WouldKill, ProcessVerdictWord::Error})
    if (r.count(v)) return true;
  for (auto v : {ShmVerdictWord::Unlinked, ShmVerdictWord::WouldUnlink, ShmVerdictWord::Error})
    if (r.count(v)) return true;
  for (const auto& sw : r.sweeps)  // uds, mqueue, sysv
    for (const auto& i : sw.items)
      if (i.outcome == core::SweepVerdictWord::Removed ||
          i.outcome == core::SweepVerdictWord::WouldRemove ||
          i.outcome == core::SweepVerdictWord::Error)
        return true;
  return false;
}

std::string nothing_found_line(const Options& o, const core::Report& r) {
  if (anything_to_do(r) || r.count(ProcessVerdictWord::Gone)) return {};
  std::vector<std::string> parts;
  if (r.process_phase) {
    std::string part;
    if (r.mode == "run")
      part = fmt::format("no processes of uid {} left below reap", r.uid);
    else if (o.parent)
      part = fmt::format("no processes of uid {} below pid {}", r.uid, *o.parent);
    else
      part = fmt::format("no orphans of uid {} under {} matching {}", r.uid,
                         util::escape_for_terminal(o.cwd), quoted_list(o.match));
    if (auto kept = r.count(ProcessVerdictWord::Kept)) part += fmt::format(" ({} kept)", kept);
    parts.push_back(std::move(part));
  }
  if (r.shm_phase) {
    std::string part = fmt::format("no unheld segments of uid {}", r.uid);
    if (o.min_age) part += fmt::format(" older than {:g} s", *o.min_age);
    part += " in " + util::escape_for_terminal(r.shm_dir);
    auto kept = r.count(ShmVerdictWord::Kept), skipped = r.count(ShmVerdictWord::Skipped);
    if (kept || skipped) part += fmt::format(" ({} kept, {} skipped)", kept, skipped);
    parts.push_back(std::move(part));
  }
  for (const auto& sw : r.sweeps) {
    std::string where;
    for (const auto& d : sw.dirs)
      where += (where.empty() ? " in " : ", ") + util::escape_for_terminal(d);
    parts.push_back(
        fmt::format("no stale {} objects of uid {}{}{}", sw.kind, r.uid, where,
                    sw.items.empty() ? "" : fmt::format(" ({} kept)", sw.items.size())));
  }
  std::string line = "nothing to reap:";
  for (std::size_t i = 0; i < parts.size(); ++i) line += (i ? "; " : " ") + parts[i];
  return line;
}

Sinks::Sinks(const Options& o) : o_(o), started_(util::monotonic_seconds()) {
  if (!o.log_json.empty()) {
    log_.reset(
        ::open(o.log_json.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644));
    if (!log_.valid())
      throw Refusal(fmt::format("--log-json '{}': {}", o.log_json, std::strerror(errno)));
  }
  if (!o.metrics_file.empty()) {
    struct stat st;
    if (::stat(o.metrics_file.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      throw Refusal(fmt::format("--metrics-file '{}': not a regular file", o.metrics_file));
    // The temporary file is made now, in the same directory, so that a bad directory is a
    // refusal before anything is done, and the final rename stays within one filesystem.
    std::string base = o.metrics_file.substr(o.metrics_file.find_last_of('/') + 1);
    metrics_tmp_path_ = dir_of(o.metrics_file) + "/." + base + ".XXXXXX";
    int fd = ::mkostemp(metrics_tmp_path_.data(), O_CLOEXEC);
    if (fd < 0)
      throw Refusal(fmt::format("--metrics-file '{}': cannot create a file in {}: {}",
                                o.metrics_file, dir_of(o.metrics_file), std::strerror(errno)));
    metrics_tmp_.reset(fd);
  }
}

Sinks::~Sinks() {
  if (metrics_tmp_.valid()) ::unlink(metrics_tmp_path_.c_str());  // not renamed: a failed run
}

bool Sinks::color_on(int fd) const {
  switch (o_.color) {
    case Options::Color::Always:
      return true;
    case Options::Color::Never:
      return false;
    case Options::Color::Auto:
      break;
  }
  const char* term = std::getenv("TERM");
  return ::isatty(fd) && !(term && std::strcmp(term, "dumb") == 0);
}

void Sinks::print_report(const core::Report& report, std::ostream& out, int fd) const {
  if (o_.json) {
    print_json(report, out);
  } else {
    std::string nothing = nothing_found_line(o_, report);
    if (!nothing.empty()) out << nothing << "\n";
    print_human(report, out, color_on(fd));
  }
  out.flush();
}

void Sinks::record(const core::Report& report) {
  if (log_.valid()) {
    FdWriteBuf buf(log_.get());  // streamed: a big sweep's line is not built in memory
    std::ostream line(&buf);
    print_json(report, line);  // one line: the --json document, compact
    line.flush();
    if (buf.err())
      std::cerr << fmt::format("reap: warning: --log-json '{}': {}\n", o_.log_json,
                               std::strerror(buf.err()));
  }
  if (metrics_tmp_.valid()) {
    MetricsRun run;
    run.finished_unix = util::wall_seconds();
    run.duration = util::monotonic_seconds() - started_;
    run.exit_code = exit_code(report);
    if (report.shm_phase) {
      struct stat st;
      if (::stat(report.shm_dir.c_str(), &st) == 0)
        run.deleted_mapped_bytes = deleted_mapped_bytes(o_.proc_root, st.st_dev);
    }
    std::string text = render_metrics(report, run);
    bool ok = write_all(metrics_tmp_.get(), text) && ::fchmod(metrics_tmp_.get(), 0644) == 0 &&
              ::fsync(metrics_tmp_.get()) == 0 &&
              ::rename(metrics_tmp_path_.c_str(), o_.metrics_file.c_str()) == 0;
    if (!ok)
      std::cerr << fmt::format("reap: warning: --metrics-file '{}': {}\n", o_.metrics_file,
                               std::strerror(errno));
    else
      metrics_tmp_.reset();
    if (!ok) ::unlink(metrics_tmp_path_.c_str());
    metrics_tmp_.reset();
  }
}

int Sinks::exit_code(const core::Report& report) const {
  if (o_.check) return anything_to_do(report) ? 1 : 0;
  return report.exit_code();
}

}  // namespace reap::cli
