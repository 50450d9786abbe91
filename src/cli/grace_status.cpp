#include "cli/grace_status.hpp"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "util/clock.hpp"

namespace reap::cli {
namespace {

/// A wait shorter than this draws nothing: a line that flashes by is noise.
constexpr double kMoment = 0.3;

void write_stderr(const std::string& s) {
  ssize_t ignored = ::write(STDERR_FILENO, s.data(), s.size());
  (void)ignored;
}

}  // namespace

GraceStatus::GraceStatus() {
  const char* term = std::getenv("TERM");
  tty_ = ::isatty(STDERR_FILENO) && !(term && std::strcmp(term, "dumb") == 0);
}

std::function<void(std::size_t, double, bool)> GraceStatus::callback() {
  if (!tty_) return {};
  return [this](std::size_t alive, double left, bool sigkill_next) {
    double now = util::monotonic_seconds();
    if (first_ < 0) first_ = now;
    if (now - first_ < kMoment) return;
    write_stderr(fmt::format("\r\x1b[Kreap: {} process{} still alive, {:.1f} s left, then {}",
                             alive, alive == 1 ? "" : "es", left,
                             sigkill_next ? "SIGKILL" : "reported as survived"));
    drawn_ = true;
  };
}

void GraceStatus::clear() {
  if (drawn_) write_stderr("\r\x1b[K");
  drawn_ = false;
  first_ = -1;
}

}  // namespace reap::cli
