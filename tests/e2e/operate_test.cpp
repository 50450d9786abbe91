// End-to-end tests of the operating options: --check, --log-json, --metrics-file, --color
// and NO_COLOR, the "nothing to reap" line, the help text, and the live status line during
// a grace wait in a real pseudo-terminal (script(1)). Sweeps use private dirs and run as
// test_uid() (a uid of this test process alone, in both passes: not root, whose PID 1 cannot
// be inspected here, and not a uid shared with tests running beside it, whose processes could
// block its segments), on segments of that uid; processes are the test's own.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

class Operate : public ReapTest {
 protected:
  void SetUp() override {
    ReapTest::SetUp();
    dir_ = shm_dir();
    ::chown(dir_.c_str(), test_uid(), test_uid());
    scratch_ = tmp_dir();
    ::chown(scratch_.c_str(), test_uid(), test_uid());
  }
  void make(const std::string& name) { make_file(dir_, name, test_uid(), test_uid()); }
  // A sweep run as test_uid() (not root: root's PID 1 cannot be inspected here and would keep
  // everything; not 65534: another test's reap of 65534, caught mid-exec, would block it).
  RunResult sweep(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--shm-only", "--shm-dir", dir_};
    args.insert(args.end(), extra.begin(), extra.end());
    RunOptions o;
    o.as_uid = test_uid();
    return run_reap(args, o);
  }
  // uid="N" of the metrics, for test_uid().
  static std::string uid_label() { return "uid=\"" + std::to_string(test_uid()) + "\""; }
  std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // `script` runs the command line in a fresh pseudo-terminal; its output is what the
  // terminal showed.
  RunResult in_pty(const std::string& command_line) {
    return run_command({"script", "-qefc", command_line, "/dev/null"});
  }
  std::string dir_, scratch_;
};

TEST_F(Operate, CheckExitsOneWhenSomethingWouldBeDoneAndActsOnNothing) {
  make("free");
  RunResult r = sweep({"--check"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "shm free: would unlink")) << r.out;
  EXPECT_TRUE(exists_nofollow(dir_ + "/free"));
  ASSERT_EQ(::unlink((dir_ + "/free").c_str()), 0);
  r = sweep({"--check"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(Operate, CheckIsRefusedWithRun) {
  RunResult r = run_command({reap_bin(), "--check", "run", "--", "true"}, as_reap_user());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("reap: error: run: --check does not apply", 0), 0u) << r.err;
}

TEST_F(Operate, LogJsonAppendsOneLinePerRunWithTheJsonSchema) {
  std::string log = scratch_ + "/sweep.jsonl";
  make("a");
  RunResult r1 = sweep({"--log-json", log});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_TRUE(has_line(r1.out, "shm a: unlinked")) << "the human report still goes to stdout";
  RunResult r2 = sweep({"--log-json", log, "--json"});
  auto lines = split_lines(read(log));
  ASSERT_EQ(lines.size(), 2u) << read(log);
  auto first = nlohmann::json::parse(lines[0]);
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(first["summary"]["unlinked"], 1);
  EXPECT_EQ(second["summary"]["unlinked"], 0);
  EXPECT_EQ(lines[1] + "\n", r2.out) << "the log line is the --json document";
  for (const char* key :
       {"version", "dry_run", "uid", "exit_code", "processes", "shm", "uninspectable", "summary"})
    EXPECT_TRUE(first.contains(key)) << key;
}

// The log line is written as it is made, in 1 MiB writes: a line of several is still the
// whole --json document, on one line, after the lines before it.
TEST_F(Operate, LogJsonLineOverAMegabyteIsTheWholeJsonDocument) {
  std::string log = scratch_ + "/sweep.jsonl";
  const int n = 6000;  // about 320 bytes an item in JSON: some 1.9 MB
  for (int i = 0; i < n; ++i)
    make("a-long-name-for-a-long-log-line-" + std::string(120, 'x') + "-" + std::to_string(i));
  RunResult r1 = sweep({"-n", "--log-json", log, "--json"});
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  ASSERT_GT(r1.out.size(), std::size_t{1} << 20);
  RunResult r2 = sweep({"-n", "--log-json", log, "--json"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  auto lines = split_lines(read(log));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0] + "\n" == r1.out) << "the first log line is not the --json document";
  EXPECT_TRUE(lines[1] + "\n" == r2.out) << "the second log line is not the --json document";
  EXPECT_EQ(nlohmann::json::parse(lines[1])["summary"]["would_unlink"], n);
}

TEST_F(Operate, LogJsonToAMissingDirectoryIsRefusedBeforeActing) {
  make("a");
  RunResult r = sweep({"--log-json", scratch_ + "/no/such/dir/log"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("reap: error: --log-json '", 0), 0u) << r.err;
  EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(exists_nofollow(dir_ + "/a")) << "acted although the log cannot be written";
}

// Strict reading of the Prometheus text format: HELP and TYPE before each family's samples,
// every sample of a declared family, names and labels well formed, values numbers, no
// duplicate series.
void expect_valid_prometheus_text(const std::string& text) {
  static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter))");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*",?)*)\} (-?[0-9.eE+-]+|NaN))");
  std::set<std::string> helped, typed, series;
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  for (const std::string& line : split_lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      EXPECT_TRUE(helped.insert(m[1]).second) << "two HELP lines: " << line;
    } else if (std::regex_match(line, m, type)) {
      EXPECT_TRUE(helped.count(m[1])) << "TYPE before HELP: " << line;
      EXPECT_TRUE(typed.insert(m[1]).second) << "two TYPE lines: " << line;
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_TRUE(typed.count(m[1])) << "sample of an undeclared family: " << line;
      EXPECT_TRUE(series.insert(m[1].str() + "{" + m[2].str() + "}").second)
          << "duplicate: " << line;
      std::size_t used = 0;
      std::stod(m[3].str(), &used);
      EXPECT_EQ(used, m[3].str().size()) << line;
    } else {
      ADD_FAILURE() << "not a Prometheus text line: '" << line << "'";
    }
  }
}

TEST_F(Operate, MetricsFileIsValidPrometheusTextAndReplacedAtomically) {
  make("a");
  make("b");
  const std::string u = std::to_string(test_uid());
  pid_t h = spawn_holder({"--drop", u + ":" + u, "mmap:" + dir_ + "/b"});
  std::string prom = scratch_ + "/reap.prom";
  RunResult r = sweep({"--metrics-file", prom});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = read(prom);
  expect_valid_prometheus_text(text);
  const std::string uid = uid_label();
  EXPECT_TRUE(has_line(text, "reap_shm_segments{" + uid + ",verdict=\"unlinked\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "reap_shm_segments{" + uid + ",verdict=\"kept\",reason=\"mapped\"} 1"))
      << text;
  EXPECT_TRUE(has_line(text, "reap_shm_freed_bytes{" + uid + "} 4096")) << text;
  EXPECT_TRUE(has_line(text, "reap_last_run_exit_code{" + uid + "} 0")) << text;
  EXPECT_TRUE(has_line_like(text, "reap_last_run_timestamp_seconds{" + uid + "} ")) << text;
  EXPECT_TRUE(has_line_like(text, "reap_last_run_duration_seconds{" + uid + "} ")) << text;
  EXPECT_TRUE(has_line_like(text, "reap_shm_deleted_mapped_bytes{" + uid + "} ")) << text;
  struct stat st;
  ASSERT_EQ(::stat(prom.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // Only the file itself is left in the directory (the temporary file was renamed).
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(scratch_))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"reap.prom"});
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    RunResult p = run_command({"sh", "-c", "promtool check metrics < " + prom});
    EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  }
  EXPECT_TRUE(running(h));
}

// reap runs as reap_uid() (root, or the test uid) and acts for test_uid(); the holder is
// reap's own, so it can be inspected.
TEST_F(Operate, DeletedButMappedBytesAreMeasured) {
  make("held");
  pid_t h = spawn_holder({"mmap:" + dir_ + "/held"});
  ASSERT_EQ(::unlink((dir_ + "/held").c_str()), 0);  // unlinked, still mapped by h
  std::string prom = scratch_ + "/reap.prom";
  RunResult r = run_reap({"--shm-only", "--shm-dir", dir_, "--uid", std::to_string(test_uid()),
                          "--metrics-file", prom});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string text = read(prom);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      text, m, std::regex("reap_shm_deleted_mapped_bytes\\{" + uid_label() + "\\} (\\d+)")))
      << text;
  EXPECT_GE(std::stoull(m[1]), 4096u) << "the 4096-byte unlinked segment mapped by " << h;
}

TEST_F(Operate, MetricsFileInAMissingDirectoryIsRefusedBeforeActing) {
  make("a");
  RunResult r = sweep({"--metrics-file", scratch_ + "/no/such/reap.prom"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("reap: error: --metrics-file '", 0), 0u) << r.err;
  EXPECT_TRUE(exists_nofollow(dir_ + "/a"));
}

TEST_F(Operate, ColorOnlyWhenAskedOrOnATerminal) {
  make("a");
  RunResult always = sweep({"-n", "--color=always"});
  EXPECT_TRUE(has_line(always.out, "shm a: \x1b[36mwould unlink\x1b[0m")) << always.out;
  RunResult piped = sweep({"-n"});
  EXPECT_TRUE(has_line(piped.out, "shm a: would unlink")) << "a pipe gets no colour";
  RunResult never = sweep({"-n", "--color", "never"});
  EXPECT_EQ(never.out.find('\x1b'), std::string::npos) << never.out;
  RunResult bad = sweep({"--color", "sometimes"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "reap: error: --color 'sometimes': not one of auto, always, never\n");
}

TEST_F(Operate, TerminalGetsColourUnlessNoColor) {
  make("a");
  std::string cmd =
      setpriv_words(test_uid()) + "-- " + reap_bin() + " -n --shm-only --shm-dir " + dir_;
  RunResult tty = in_pty(cmd);
  EXPECT_NE(tty.out.find("shm a: \x1b[36mwould unlink\x1b[0m"), std::string::npos) << tty.out;
  RunResult no_color = in_pty("NO_COLOR=1 " + cmd);
  EXPECT_NE(no_color.out.find("shm a: would unlink"), std::string::npos) << no_color.out;
  EXPECT_EQ(no_color.out.find('\x1b'), std::string::npos) << no_color.out;
  RunResult forced = in_pty("NO_COLOR=1 " + cmd + " --color=always");
  EXPECT_NE(forced.out.find("\x1b[36mwould unlink"), std::string::npos) << forced.out;
}

TEST_F(Operate, NothingFoundSaysWhatWasSearched) {
  std::string cwd = tmp_dir();
  std::string marker = unique_marker("nothing");
  RunResult r = run_reap({"--cwd", cwd, "--match", marker, "-n"});  // as reap_uid()
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "nothing to reap: no orphans of uid " + std::to_string(reap_uid()) +
                                  " under " + cwd + " matching " + marker))
      << r.out;
  RunResult s = sweep({"--min-age", "5m"});
  EXPECT_TRUE(has_line(s.out, "nothing to reap: no unheld segments of uid " +
                                  std::to_string(test_uid()) + " older than 300 s in " + dir_))
      << s.out;
  make("a");
  RunResult found = sweep({"-n"});
  EXPECT_TRUE(lines_with_prefix(found.out, "nothing to reap").empty()) << found.out;
}

TEST_F(Operate, HelpShowsValueNamesExamplesAndExitCodes) {
  RunResult r = run_command({reap_bin(), "--help"}, as_reap_user());
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"-p,--parent PID", "-g,--grace SECONDS", "--shm-dir DIR",
                        "--min-age DURATION", "--log-json FILE", "--metrics-file FILE",
                        "--color WHEN", "--check", "Examples:", "Exit codes:", "NO_COLOR"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  RunResult run = run_command({reap_bin(), "run", "--help"}, as_reap_user());
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("Usage: reap run [OPTIONS] -- CMD [ARGS...]"), std::string::npos)
      << run.out;
  for (const char* s : {"--fail-on-leak", "-g,--grace SECONDS", "--shm-dir DIR", "--json",
                        "--min-age DURATION", "--uid UID", "--kill-wait SECONDS"})
    EXPECT_NE(run.out.find(s), std::string::npos) << s << "\n" << run.out;
}

// The victims are reap's own (reap_uid()); in the terminal, reap runs as that uid too.
TEST_F(Operate, GraceStatusLineOnATerminalOnly) {
  Spawned& parent = spawn_victim({"--marker", unique_marker("p"), "--child", "--on-int linger"}, 2);
  std::string cmd = setpriv_words(reap_uid()) + (unprivileged() ? "-- " : "") + reap_bin() +
                    " -p " + std::to_string(parent.pid) + " -g 1.2 --kill-wait 1";
  RunResult tty = in_pty(cmd);
  EXPECT_EQ(tty.exit_code, 1) << tty.out;
  EXPECT_NE(tty.out.find("\r\x1b[Kreap: 1 process still alive, "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(" s left, then SIGKILL"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\x1b[33mkilled\x1b[0m: SIGKILL after 1.2 s grace"), std::string::npos)
      << tty.out;
  // Piped: not a byte of it.
  Spawned& again = spawn_victim({"--marker", unique_marker("q"), "--child", "--on-int linger"}, 2);
  RunResult piped = run_reap({"-p", std::to_string(again.pid), "-g", "1.2", "--kill-wait", "1"});
  EXPECT_EQ(piped.exit_code, 1);
  EXPECT_EQ(piped.err.find("still alive"), std::string::npos) << piped.err;
  EXPECT_EQ(piped.out.find('\r'), std::string::npos) << piped.out;
}

}  // namespace
}  // namespace reap_e2e
