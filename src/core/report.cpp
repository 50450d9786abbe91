#include "core/report.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace reap::core {

const char* word(ProcessVerdictWord v) {
  switch (v) {
    case ProcessVerdictWord::Reaped:
      return "reaped";
    case ProcessVerdictWord::Killed:
      return "killed";
    case ProcessVerdictWord::Survived:
      return "survived";
    case ProcessVerdictWord::Gone:
      return "gone";
    case ProcessVerdictWord::WouldReap:
      return "would reap";
    case ProcessVerdictWord::WouldKill:
      return "would kill";
    case ProcessVerdictWord::Kept:
      return "kept";
    case ProcessVerdictWord::Error:
      return "error";
  }
  return "?";
}

const char* word(ShmVerdictWord v) {
  switch (v) {
    case ShmVerdictWord::Unlinked:
      return "unlinked";
    case ShmVerdictWord::WouldUnlink:
      return "would unlink";
    case ShmVerdictWord::Gone:
      return "gone";
    case ShmVerdictWord::Kept:
      return "kept";
    case ShmVerdictWord::Skipped:
      return "skipped";
    case ShmVerdictWord::Error:
      return "error";
  }
  return "?";
}

const char* word(SweepVerdictWord v) {
  switch (v) {
    case SweepVerdictWord::Removed:
      return "removed";
    case SweepVerdictWord::WouldRemove:
      return "would remove";
    case SweepVerdictWord::Kept:
      return "kept";
    case SweepVerdictWord::Skipped:
      return "skipped";
    case SweepVerdictWord::Error:
      return "error";
  }
  return "?";
}

std::size_t Report::count(const std::string& kind, SweepVerdictWord v) const {
  std::size_t n = 0;
  for (const auto& s : sweeps)
    if (s.kind == kind)
      for (const auto& i : s.items) n += i.outcome == v;
  return n;
}

int Report::exit_code() const {
  for (const auto& s : sweeps)
    for (const auto& i : s.items)
      if (i.outcome == SweepVerdictWord::Error) return 1;
  for (const auto& p : processes)
    if (p.verdict == ProcessVerdictWord::Killed || p.verdict == ProcessVerdictWord::Survived ||
        p.verdict == ProcessVerdictWord::Error)
      return 1;
  if (shm.count(ShmVerdictWord::Error)) return 1;  // verdicts only: no item is built
  return 0;
}

std::size_t Report::count(ProcessVerdictWord v) const {
  return static_cast<std::size_t>(std::count_if(processes.begin(), processes.end(),
                                                [&](const auto& p) { return p.verdict == v; }));
}

std::size_t Report::count(ShmVerdictWord v) const {
  return shm.count(v);  // verdicts only: no item is built
}

namespace {

ProcessReportItem base(const ProcessPlanItem& item) {
  ProcessReportItem r;
  r.pid = item.pid;
  r.comm = item.comm;
  r.cmdline = item.cmdline;
  return r;
}

}  // namespace

ProcessReportItem describe_plan(const ProcessPlanItem& item, double grace_seconds) {
  ProcessReportItem r = base(item);
  switch (item.verdict) {
    case ProcessVerdict::Reap:
      r.verdict = ProcessVerdictWord::WouldReap;
      r.reason = fmt::format("SIGINT, then SIGKILL after {:.1f} s", grace_seconds);
      break;
    case ProcessVerdict::Kill:
      r.verdict = ProcessVerdictWord::WouldKill;
      r.reason = "ignores SIGINT, SIGKILL at once";
      break;
    case ProcessVerdict::Kept:
      r.verdict = ProcessVerdictWord::Kept;
      r.reason = item.reason;
      break;
  }
  return r;
}

ProcessReportItem describe_outcome(const ProcessPlanItem& item, const os::TargetOutcome& o,
                                   double grace_seconds) {
  ProcessReportItem r = base(item);
  if (o.sent_sigint) r.signals.push_back("SIGINT");
  if (o.sent_sigkill) r.signals.push_back("SIGKILL");
  if (o.sent_sigint || o.sent_sigkill) r.seconds = o.seconds;
  switch (o.result) {
    case os::TargetResult::Reaped:
      r.verdict = ProcessVerdictWord::Reaped;
      r.reason = fmt::format("exited after SIGINT in {:.3f} s", o.seconds);
      break;
    case os::TargetResult::Killed:
      r.verdict = ProcessVerdictWord::Killed;
      r.reason = o.sent_sigint ? fmt::format("SIGKILL after {:.1f} s grace", grace_seconds)
                               : std::string("ignores SIGINT, sent SIGKILL");
      break;
    case os::TargetResult::Survived:
      r.verdict = ProcessVerdictWord::Survived;
      r.reason = fmt::format("still alive after SIGKILL (state {})", o.final_state);
      break;
    case os::TargetResult::Gone:
      r.verdict = ProcessVerdictWord::Gone;
      r.reason = o.identity_changed ? "its pid now names another process; not signalled"
                                    : "exited before it was signalled";
      break;
    case os::TargetResult::Failed:
      r.verdict = ProcessVerdictWord::Error;
      r.reason = o.sent_sigint ? fmt::format("SIGINT sent, but SIGKILL could not be: {}",
                                             std::strerror(o.err))
                               : fmt::format("cannot signal: {}", std::strerror(o.err));
      break;
  }
  return r;
}

ShmReportItem describe_shm(ShmPlanItem&& item, bool dry_run,
                           const std::optional<os::UnlinkOutcome>& outcome) {
  ShmReportItem r;
  r.name = std::move(item.name);
  r.reason = std::move(item.reason);
  r.holder = item.holder;
  r.uid = item.uid;
  r.size = item.size;
  switch (item.verdict) {
    case ShmVerdict::Skipped:
      r.verdict = ShmVerdictWord::Skipped;
      return r;
    case ShmVerdict::Kept:
      r.verdict = ShmVerdictWord::Kept;
      return r;
    case ShmVerdict::Unlink:
      break;
  }
  if (dry_run || !outcome) {
    r.verdict = ShmVerdictWord::WouldUnlink;
    return r;
  }
  switch (outcome->result) {
    case os::UnlinkResult::Unlinked:
      r.verdict = ShmVerdictWord::Unlinked;
      break;
    case os::UnlinkResult::AlreadyGone:
      r.verdict = ShmVerdictWord::Gone;
      r.reason = "already gone when it was to be unlinked";
      break;
    case os::UnlinkResult::Replaced:
      r.verdict = ShmVerdictWord::Kept;
      r.reason = "replaced by another file since the scan; left alone";
      break;
    case os::UnlinkResult::Failed:
      r.verdict = ShmVerdictWord::Error;
      r.reason = fmt::format("unlink failed: {}", std::strerror(outcome->err));
      break;
  }
  return r;
}

}  // namespace reap::core
