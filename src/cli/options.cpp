#include "cli/options.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/help.hpp"
#include "util/duration.hpp"

namespace reap::cli {
namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
std::optional<T> parse_number(const std::string& s) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

double parse_seconds(const std::string& option, const std::string& text) {
  auto v = util::parse_duration_seconds(text);
  if (!v)
    throw UsageError(
        fmt::format("{} '{}': not a non-negative duration (e.g. 3, 0.5, 500ms, 2s)", option, text));
  return *v;
}

pid_t parse_pid_option(const std::string& option, const std::string& text) {
  auto v = parse_number<long long>(text);
  if (!v || *v <= 0 || *v > INT_MAX)
    throw UsageError(fmt::format("{} '{}': not a process id (a positive integer)", option, text));
  return static_cast<pid_t>(*v);
}

uid_t parse_uid(const std::string& text) {
  if (auto v = parse_number<long long>(text)) {
    if (*v < 0 || *v >= static_cast<long long>(UINT_MAX))
      throw UsageError(fmt::format("--uid '{}': out of range", text));
    return static_cast<uid_t>(*v);
  }
  if (struct passwd* pw = ::getpwnam(text.c_str())) return pw->pw_uid;
  throw UsageError(fmt::format("--uid '{}': no such user and not a number", text));
}

std::string current_dir() {
  std::string buf(PATH_MAX, '\0');
  if (!::getcwd(buf.data(), buf.size())) return ".";
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

}  // namespace

std::optional<std::string> git_top_level(const std::string& dir) {
  std::string d = dir;
  for (;;) {
    struct stat st;
    if (::lstat((d + "/.git").c_str(), &st) == 0) return d;
    if (d == "/" || d.empty()) return std::nullopt;
    auto slash = d.find_last_of('/');
    if (slash == std::string::npos) return std::nullopt;
    d = slash == 0 ? "/" : d.substr(0, slash);
  }
}

ParseResult parse_options(int argc, const char* const* argv) {
  // `reap run [options] -- CMD [ARGS...]`: everything after the first `--` that follows
  // `run` belongs to CMD, byte for byte; CLI11 sees only reap's own words. Without `--`,
  // `run` takes no CMD (refused below): a CMD word such as `-n` must never reach reap.
  std::vector<std::string> command;
  bool run_separator = false;
  int reap_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) != "run") continue;
    for (int j = i + 1; j < argc; ++j)
      if (std::string_view(argv[j]) == "--") {
        run_separator = true;
        reap_argc = j;
        command.assign(argv + j + 1, argv + argc);
        break;
      }
    break;
  }
  CLI::App app{
      "reap: clean up after multi-process programs that died badly: leaked processes "
      "(SIGINT, grace, SIGKILL) and orphaned POSIX shared-memory segments.",
      "reap"};
  app.set_version_flag("-V,--version", "reap " REAP_VERSION);
  Options o;
  std::string parent, grace, kill_wait, uid, min_age, cwd;
  std::vector<std::string> match, adopters;
  auto* parent_opt =
      app.add_option("-p,--parent", parent, "Descendant mode: reap the whole subtree below PID");
  auto* grace_opt =
      app.add_option("-g,--grace", grace, "Seconds between SIGINT and SIGKILL (default 3.0)");
  auto* kill_wait_opt =
      app.add_option("--kill-wait", kill_wait, "Bound on the wait after SIGKILL (default 2.0)");
  app.add_flag("-n,--dry-run", o.dry_run, "Report the plan, act on nothing");
  auto* shm = app.add_flag("--shm", o.shm, "Add the shm sweep after the process phase");
  auto* shm_only = app.add_flag("--shm-only", o.shm_only, "Only the shm sweep");
  shm->excludes(shm_only);
  auto* shm_dir_opt =
      app.add_option("--shm-dir", o.shm_dir, "Directory to sweep (default /dev/shm)");
  auto* uds = app.add_flag("--uds", o.uds,
                           "Add the unix socket file sweep (after shm): remove socket files "
                           "that no socket is bound to (kernel socket table, by identity)");
  auto* uds_only = app.add_flag("--uds-only", o.uds_only,
                                "Only the unix socket file sweep (with --shm-only: both)");
  uds->excludes(uds_only);
  auto* uds_dir_opt = app.add_option("--uds-dir", o.uds_dirs,
                                     "Socket directory to sweep (repeatable; default "
                                     "$XDG_RUNTIME_DIR/tractor, else /tmp/tractor-UID)");
  auto* mqueue = app.add_flag("--mqueue", o.mqueue,
                              "Add the POSIX message queue sweep (queues nobody has open)");
  app.add_flag("--mqueue-only", o.mqueue_only,
               "Only the message queue sweep (with other *-only flags: those sweeps)")
      ->excludes(mqueue);
  std::string mqueue_dir;
  auto* mqueue_dir_opt = app.add_option(
      "--mqueue-dir", mqueue_dir, "Mounted mqueue file system to sweep (default /dev/mqueue)");
  auto* sysv =
      app.add_flag("--sysv", o.sysv,
                   "Add the SysV shared memory sweep: unattached segments whose creator and last "
                   "user are gone (opt-in: some software keeps unattached segments on purpose)");
  app.add_flag("--sysv-only", o.sysv_only,
               "Only the SysV shared memory sweep (with other *-only flags: those sweeps)")
      ->excludes(sysv);
  auto* uid_opt =
      app.add_option("--uid", uid, "Owner to act for, name or number (default: effective uid)");
  auto* cwd_opt = app.add_option("--cwd", cwd,
                                 "Orphan mode: the cwd leaked processes have "
                                 "(default: git top-level of the working directory)");
  app.add_option("--match", match,
                 "Orphan mode: the program (argv[0], the executable, an interpreter's "
                 "script or module) must contain TEXT; other arguments never match "
                 "(repeatable: any of them; default python)");
  app.add_option("--adopter", adopters, "Orphan mode: PID also adopts orphans (repeatable)");
  auto* min_age_opt =
      app.add_option("--min-age", min_age, "Keep segments changed more recently (e.g. 30s, 5m)");
  app.add_flag("--allow-root-cwd", o.allow_root_cwd,
               "Accept --cwd / (daemons run there: only with care)");
  auto* any_fs = app.add_flag("--allow-any-fs", o.allow_any_fs,
                              "Accept a --shm-dir that is not a memory filesystem (tmpfs, ramfs, "
                              "hugetlbfs)");
  app.add_flag("--ignore-uninspectable", o.ignore_uninspectable,
               "Do not let processes reap cannot inspect keep segments (unsafe)");
  app.add_flag("--json", o.json, "One JSON report on stdout");
  CLI::App* run = app.add_subcommand(
      "run",
      "Supervise CMD (reap becomes its subreaper), pass its exit status through, then "
      "reap the processes it left behind and, with --shm, the segments it created");
  run->fallthrough();
  run->add_flag("--fail-on-leak", o.fail_on_leak,
                "Exit 1 when CMD succeeded but left processes or segments behind");
  app.add_option("--proc", o.proc_root, "procfs mount to read (default /proc)")->group("");
  app.add_flag("--maps-text", o.maps_text, "Read /proc/PID/maps as text, not by ioctl")->group("");
  app.add_option("--threads", o.threads, "Scan threads (default: one per core, at most 4)")
      ->group("");
  OperatingOptions operating = add_operating_options(app, *run, o);

  try {
    app.parse(reap_argc, argv);
    if (auto error = finish_operating_options(operating, run->parsed(), o))
      throw UsageError(*error);
    if (!run->parsed() && run_separator)
      throw UsageError("'--' separates a command only after 'run' (see reap --help)");
    if (run->parsed()) {
      if (!run_separator)
        throw UsageError("run: no command given (reap run [options] -- CMD [ARGS...])");
      o.command = std::move(command);
      if (o.command.empty())
        throw UsageError("run: no command after -- (reap run [options] -- CMD [ARGS...])");
      if (parent_opt->count() || o.sweeps_only() || cwd_opt->count() || !match.empty() ||
          !adopters.empty())
        throw UsageError(
            "run: --parent, the *-only flags, --cwd, --match and --adopter do not apply; "
            "run reaps what CMD leaves below reap");
    }
    o.mqueue |= o.mqueue_only;
    o.sysv |= o.sysv_only;
    if (parent_opt->count()) o.parent = parse_pid_option("--parent", parent);
    if (grace_opt->count()) o.grace = parse_seconds("--grace", grace);
    if (kill_wait_opt->count()) o.kill_wait = parse_seconds("--kill-wait", kill_wait);
    if (min_age_opt->count()) o.min_age = parse_seconds("--min-age", min_age);
    o.uid = uid_opt->count() ? parse_uid(uid) : ::geteuid();
    for (const auto& a : adopters) o.adopters.push_back(parse_pid_option("--adopter", a));
    if (!match.empty()) o.match = match;
    for (const auto& m : o.match)
      if (m.empty()) throw UsageError("--match '': an empty TEXT would match every process");
    if (o.parent && o.sweeps_only())
      throw UsageError(
          fmt::format("--parent and {} contradict each other: {} runs no process phase",
                      o.only_flag(), o.only_flag()));
    if (o.parent && (cwd_opt->count() || !match.empty() || !adopters.empty()))
      throw UsageError(
          "--cwd, --match and --adopter select orphans; they do not apply with "
          "--parent");
    if (o.sweeps_only() && (grace_opt->count() || kill_wait_opt->count()))
      throw UsageError(fmt::format(
          "--grace and --kill-wait apply to the process phase, which {} skips", o.only_flag()));
    if (!o.shm && !o.shm_only && (shm_dir_opt->count() || any_fs->count()))
      throw UsageError("--shm-dir and --allow-any-fs need --shm or --shm-only");
    if (!o.uds && !o.uds_only && uds_dir_opt->count())
      throw UsageError("--uds-dir needs --uds or --uds-only");
    if (!o.mqueue && mqueue_dir_opt->count())
      throw UsageError("--mqueue-dir needs --mqueue or --mqueue-only");
    if (mqueue_dir_opt->count()) o.mqueue_dir = mqueue_dir;
    for (const auto& d : o.uds_dirs)
      if (d.empty()) throw UsageError("--uds-dir '': an empty path names no directory");
    const bool any_sweep = o.shm || o.shm_only || o.uds || o.uds_only || o.mqueue || o.sysv;
    if (!any_sweep && (min_age_opt->count() || o.ignore_uninspectable))
      throw UsageError(
          "--min-age and --ignore-uninspectable need a sweep (--shm, --shm-only, --uds, "
          "--uds-only, --mqueue, --mqueue-only, --sysv or --sysv-only)");
    if (o.allow_root_cwd && !cwd_opt->count())
      throw UsageError("--allow-root-cwd goes with --cwd /");
    const bool orphan_mode = !o.parent && !o.sweeps_only() && !run->parsed();
    if (cwd_opt->count()) {
      struct stat st;
      if (::stat(cwd.c_str(), &st) != 0)
        throw UsageError(fmt::format("--cwd '{}': {}", cwd, std::strerror(errno)));
      if (!S_ISDIR(st.st_mode)) throw UsageError(fmt::format("--cwd '{}': not a directory", cwd));
      struct stat root;
      if (::stat("/", &root) == 0 && st.st_dev == root.st_dev && st.st_ino == root.st_ino &&
          !o.allow_root_cwd)
        throw UsageError(
            "--cwd '/': daemons run in /, so this would take system services; add "
            "--allow-root-cwd if that is really meant");
      o.cwd = cwd;
    } else if (orphan_mode) {
      // No silent widening: outside a git work tree there is no scope to assume.
      auto top = git_top_level(current_dir());
      if (!top)
        throw UsageError(
            "orphan mode needs a scope: the working directory is not in a git work tree; "
            "pass --cwd DIR (the directory the leaked processes run in) or --parent PID");
      o.cwd = *top;
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version
      app.exit(e, std::cout, std::cerr);
      return {std::nullopt, 0};
    }
    // `reap run CMD` without `--`: CLI11 calls CMD an unexpected argument; say what to type.
    if (run->parsed() && !run_separator && dynamic_cast<const CLI::ExtrasError*>(&e)) {
      std::cerr << "reap: error: " << e.what()
                << " (a command goes after --: reap run [options] -- CMD [ARGS...])\n";
      return {std::nullopt, 2};
    }
    std::cerr << "reap: error: " << e.what() << " (see reap --help)\n";
    return {std::nullopt, 2};
  } catch (const UsageError& e) {
    std::cerr << "reap: error: " << e.what() << "\n";
    return {std::nullopt, 2};
  }
  return {std::move(o), 0};
}

}  // namespace reap::cli
