#include "cli/scope_command.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/app.hpp"
#include "cli/output.hpp"
#include "cli/process_rounds.hpp"
#include "core/shm_policy.hpp"
#include "os/proc_scan.hpp"
#include "os/shm_dir.hpp"
#include "os/signaller.hpp"
#include "util/clock.hpp"
#include "util/duration.hpp"
#include "util/escape.hpp"

namespace reap::cli {
namespace {

constexpr const char* kMagic = "reap-scope-baseline 1";

os::ScanOptions process_scan(const std::string& proc_root, bool pin) {
  os::ScanOptions scan;
  scan.proc_root = proc_root;
  scan.process_details = true;
  scan.pin = pin;
  return scan;
}

std::string unhex(const std::string& text) {
  if (text.size() % 2) throw Refusal("odd hex length");
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, v, 16);
    if (ec != std::errc{} || end != text.data() + i + 2) throw Refusal("bad hex");
    out.push_back(static_cast<char>(v));
  }
  return out;
}

/// Opens a sweep dir, refusing what is not a memory filesystem (as `reap --shm-dir` does): a
/// sweep elsewhere could delete ordinary files.
void open_sweep_dir(const std::string& path, os::ShmDir& dir) {
  std::string error, fs;
  if (!dir.open(path, error)) throw Refusal(error);
  if (!dir.on_memory_fs(fs))
    throw Refusal(fmt::format(
        "--shm-dir {}: not a memory filesystem ({}); POSIX shm lives on tmpfs, and a sweep "
        "elsewhere could delete ordinary files",
        util::escape_for_terminal(path), fs));
}

/// Opens a baseline dir again and checks it is the same directory (device and inode).
void open_same_dir(const core::ScopeDir& d, os::ShmDir& dir) {
  open_sweep_dir(d.path, dir);
  if (dir.dev() != d.id.dev || dir.ino() != d.id.ino)
    throw Refusal(fmt::format("--shm-dir {}: not the directory the baseline listed (replaced)",
                              util::escape_for_terminal(d.path)));
}

void reap_processes(const core::ScopeBaseline& base, const ScopeReapOptions& o,
                    core::Report& report) {
  const pid_t self = ::getpid();
  auto plan_of = [&](const os::Snapshot& snap) {
    return core::plan_scope_processes(snap, base, o.spare, o.uid, self);
  };
  os::Snapshot first = os::scan_proc(process_scan(o.proc_root, !o.dry_run));
  auto plan = plan_of(first);
  if (o.dry_run) {
    for (const auto& item : plan) report.processes.push_back(core::describe_plan(item, o.grace));
    return;
  }
  Rounds rounds;
  rounds.escalation = {o.grace, o.kill_wait, o.proc_root, {}};
  rounds.replan = plan_of;
  rounds.deferred_reason = "too young to be pinned by pidfd; not signalled";
  reap_in_rounds(rounds, first, std::move(plan), report);
}

void sweep_dir(const core::ScopeDir& d, const ScopeReapOptions& o, core::Report& report) {
  os::ShmDir dir;
  open_same_dir(d, dir);
  // List before the scan (a segment created after the listing is no candidate), and only
  // what appeared since the baseline.
  auto entries = core::new_entries(dir.list(), d);
  report.shm_dir = d.path;
  if (entries.empty()) return;
  os::ScanOptions scan;
  scan.proc_root = o.proc_root;
  scan.process_details = false;
  for (const auto& e : entries)
    if (!e.stat_errno && S_ISREG(e.st.st_mode) && e.st.st_uid == o.uid)
      scan.watch.insert(os::identity(e.st));
  os::Snapshot snap;
  if (!scan.watch.empty()) snap = os::scan_proc(scan);
  core::ShmPolicy policy;
  policy.uid = o.uid;
  policy.min_age = o.min_age;
  policy.now = util::wall_seconds();
  policy.ignore_uninspectable = o.ignore_uninspectable;
  core::ShmPolicy blocking = policy;
  blocking.ignore_uninspectable = false;
  std::set<pid_t> blockers;
  for (const auto* p : core::blocking_uninspectable(entries, snap, blocking)) {
    if (!blockers.insert(p->pid).second) continue;
    core::UninspectableItem u{p->pid, p->comm, std::nullopt, p->uninspectable_reason, true};
    if (p->have_status) u.uid = p->euid();
    report.uninspectable.push_back(std::move(u));
  }
  for (auto& item : core::plan_shm(entries, snap, policy)) {
    std::optional<os::UnlinkOutcome> outcome;
    if (!o.dry_run && item.verdict == core::ShmVerdict::Unlink) {
      outcome = dir.unlink_if_same(item.name, item.id);
      report.acted = true;
    }
    report.shm.push_back(core::describe_shm(std::move(item), o.dry_run, outcome));
  }
}

}  // namespace

core::ScopeBaseline capture_scope(pid_t root, const std::vector<std::string>& shm_dirs,
                                  const std::string& proc_root) {
  std::vector<os::ShmDir> dirs(shm_dirs.size());
  std::vector<std::vector<os::DirEntry>> listings;
  for (std::size_t i = 0; i < shm_dirs.size(); ++i) {
    open_sweep_dir(shm_dirs[i], dirs[i]);
    listings.push_back(dirs[i].list());
  }
  os::ScanOptions scan = process_scan(proc_root, false);
  os::Snapshot snap = os::scan_proc(scan);
  const os::ProcessInfo* r = snap.find(root);
  if (!r || r->zombie()) throw Refusal(fmt::format("scope: process {} is gone", root));
  core::ScopeBaseline base = core::scope_baseline(snap, root);
  for (std::size_t i = 0; i < dirs.size(); ++i)
    base.dirs.push_back(core::scope_dir(shm_dirs[i], dirs[i].dev(), dirs[i].ino(), listings[i]));
  return base;
}

core::Report reap_scope(const core::ScopeBaseline& base, const ScopeReapOptions& o) {
  os::raise_fd_limit();
  core::Report report;
  report.dry_run = o.dry_run;
  report.uid = o.uid;
  report.process_phase = true;
  report.mode = "scope";
  report.shm_phase = o.shm;
  // Dirs are checked before anything is acted on (a replaced dir is a refusal).
  std::vector<os::ShmDir> check(o.shm ? base.dirs.size() : 0);
  for (std::size_t i = 0; i < check.size(); ++i) open_same_dir(base.dirs[i], check[i]);
  reap_processes(base, o, report);
  if (o.shm)
    for (const auto& d : base.dirs) sweep_dir(d, o, report);
  return report;
}

void write_baseline(const core::ScopeBaseline& base, const std::string& path) {
  std::string text = fmt::format("{}\nroot {} {}\n", kMagic, base.root, base.root_start);
  for (const auto& [pid, start] : base.present) text += fmt::format("proc {} {}\n", pid, start);
  for (const auto& d : base.dirs) {
    text += fmt::format("dir {} {} {}\n", d.id.dev, d.id.ino, util::hex(d.path));
    for (const auto& id : d.present) text += fmt::format("id {} {}\n", id.dev, id.ino);
  }
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << text;
    out.flush();
    if (!out) throw Refusal(fmt::format("scope: cannot write {}", util::escape_for_terminal(tmp)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw Refusal(fmt::format("scope: cannot write {}: {}", util::escape_for_terminal(path),
                              std::strerror(errno)));
}

core::ScopeBaseline read_baseline(const std::string& path) {
  const std::string shown = util::escape_for_terminal(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Refusal(fmt::format("scope: {}: {}", shown, std::strerror(errno)));
  core::ScopeBaseline base;
  std::string line;
  std::size_t n = 0;
  bool have_root = false;
  auto bad = [&] {
    return Refusal(
        fmt::format("scope: {}: not a baseline written by `reap scope save` (line {})", shown, n));
  };
  while (std::getline(in, line)) {
    ++n;
    if (n == 1) {
      if (line != kMagic) throw bad();
      continue;
    }
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    if (kind == "root") {
      if (!(fields >> base.root >> base.root_start) || base.root <= 0) throw bad();
      have_root = true;
    } else if (kind == "proc") {
      core::ProcessKey k;
      if (!(fields >> k.first >> k.second)) throw bad();
      base.present.insert(k);
    } else if (kind == "dir") {
      core::ScopeDir d;
      std::string hexpath;
      if (!(fields >> d.id.dev >> d.id.ino >> hexpath)) throw bad();
      try {
        d.path = unhex(hexpath);
      } catch (const Refusal&) {
        throw bad();
      }
      base.dirs.push_back(std::move(d));
    } else if (kind == "id") {
      os::DevIno id;
      if (base.dirs.empty() || !(fields >> id.dev >> id.ino)) throw bad();
      base.dirs.back().present.insert(id);
    } else {
      throw bad();
    }
  }
  if (n == 0 || !have_root) throw bad();
  return base;
}

bool scope_leaked(const core::Report& r) {
  using P = core::ProcessVerdictWord;
  using S = core::ShmVerdictWord;
  for (const auto& p : r.processes)
    if (p.verdict == P::Reaped || p.verdict == P::Killed || p.verdict == P::Survived ||
        p.verdict == P::WouldReap || p.verdict == P::WouldKill || p.verdict == P::Error)
      return true;
  for (const auto& s : r.shm)
    if (s.verdict == S::Unlinked || s.verdict == S::WouldUnlink || s.verdict == S::Error)
      return true;
  return false;
}

int scope_command(int argc, const char* const* argv) {
  CLI::App app{
      "reap scope: the per-test scope of a test runner that calls reap (its parent process). "
      "`save` records what is below the caller and in the sweep dir; `reap` reaps what "
      "appeared since, and nothing else.",
      "reap scope"};
  app.require_subcommand(1);
  std::string file, grace, kill_wait, min_age, uid;
  std::vector<std::string> shm_dirs, spare;
  ScopeReapOptions o;
  bool json = false;
  std::string proc_root = "/proc";
  auto* save = app.add_subcommand("save", "Record the baseline in FILE");
  save->add_option("FILE", file, "Baseline file to write")->required();
  save->add_option("--shm-dir", shm_dirs, "Directory whose entries to record (once)")->expected(1);
  auto* reap = app.add_subcommand(
      "reap", "Reap what appeared below the caller since FILE was saved, sweep new segments");
  reap->add_option("FILE", file, "Baseline file written by `reap scope save`")->required();
  auto* grace_opt =
      reap->add_option("-g,--grace", grace, "Seconds between SIGINT and SIGKILL (default 3.0)");
  auto* kill_wait_opt =
      reap->add_option("--kill-wait", kill_wait, "Bound on the wait after SIGKILL (default 2.0)");
  reap->add_flag("-n,--dry-run", o.dry_run, "Report the plan, act on nothing");
  reap->add_flag("--shm", o.shm, "Also sweep the new entries of the baseline's --shm-dir");
  auto* uid_opt = reap->add_option("--uid", uid, "Owner to act for (number; default: euid)");
  auto* min_age_opt = reap->add_option("--min-age", min_age, "Keep segments changed more recently");
  reap->add_flag("--ignore-uninspectable", o.ignore_uninspectable,
                 "Do not let processes reap cannot inspect keep segments (unsafe)");
  reap->add_option("--spare", spare,
                   "A process whose cmdline contains TEXT is not a leak (repeatable)");
  reap->add_flag("--json", json, "One JSON report on stdout");
  for (auto* sub : {save, reap})
    sub->add_option("--proc", proc_root, "procfs mount to read")->group("");

  try {
    try {
      app.parse(argc - 1, argv + 1);
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == 0) {
        app.exit(e, std::cout, std::cerr);
        return 0;
      }
      std::cerr << "reap: error: scope: " << e.what() << " (see reap scope --help)\n";
      return 2;
    }
    o.proc_root = proc_root;
    if (grace_opt->count()) {
      auto v = util::parse_duration_seconds(grace);
      if (!v) throw Refusal(fmt::format("--grace '{}': not a non-negative duration", grace));
      o.grace = *v;
    }
    if (kill_wait_opt->count()) {
      auto v = util::parse_duration_seconds(kill_wait);
      if (!v)
        throw Refusal(fmt::format("--kill-wait '{}': not a non-negative duration", kill_wait));
      o.kill_wait = *v;
    }
    if (min_age_opt->count()) {
      if (!o.shm) throw Refusal("scope reap: --min-age needs --shm");
      o.min_age = util::parse_duration_seconds(min_age);
      if (!o.min_age)
        throw Refusal(fmt::format("--min-age '{}': not a non-negative duration", min_age));
    }
    if (o.ignore_uninspectable && !o.shm)
      throw Refusal("scope reap: --ignore-uninspectable needs --shm");
    o.uid = ::geteuid();
    if (uid_opt->count()) {
      unsigned long v = 0;
      auto [end, ec] = std::from_chars(uid.data(), uid.data() + uid.size(), v);
      if (ec != std::errc{} || end != uid.data() + uid.size() || v >= 0xffffffffUL)
        throw Refusal(fmt::format("--uid '{}': not a uid number", uid));
      o.uid = static_cast<uid_t>(v);
    }
    for (const auto& s : spare)
      if (s.empty()) throw Refusal("--spare '': an empty TEXT would spare every process");
    o.spare = spare;

    // The root is the caller: reap's parent. Never PID 1 (reap was orphaned).
    const pid_t root = ::getppid();
    if (root <= 1)
      throw Refusal("scope: reap's parent is PID 1; run `reap scope` from the test runner");
    if (save->parsed()) {
      write_baseline(capture_scope(root, shm_dirs, o.proc_root), file);
      return 0;
    }
    core::ScopeBaseline base = read_baseline(file);
    if (base.root != root)
      throw Refusal(fmt::format("scope: {} was saved for pid {}, not for the caller (pid {})",
                                util::escape_for_terminal(file), base.root, root));
    auto now_start = os::read_starttime(o.proc_root, root);
    if (!now_start || *now_start != base.root_start)
      throw Refusal(fmt::format("scope: {} was saved for another process with pid {}",
                                util::escape_for_terminal(file), root));
    if (o.shm && base.dirs.empty())
      throw Refusal(fmt::format("scope reap --shm: {} records no --shm-dir",
                                util::escape_for_terminal(file)));
    core::Report report = reap_scope(base, o);
    if (json)
      print_json(report, std::cout);
    else
      print_human(report, std::cout);
    std::cout.flush();
    return report.exit_code();
  } catch (const Refusal& e) {
    std::cerr << "reap: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "reap: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace reap::cli
