// End-to-end tests of `reap run`: reap supervises a command as its subreaper, passes its exit
// status through, and afterwards reaps exactly what the command left behind. Commands here
// only start reap-victim processes and touch files in a private shm dir.
#include <sys/stat.h>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

class RunCommand : public ReapTest {
 protected:
  // Pids a victim wrote ("node PID" lines) to `path`; each is tracked for teardown.
  std::vector<pid_t> pids_in(const std::string& path) {
    std::ifstream in(path);
    std::vector<pid_t> pids;
    std::string tag;
    pid_t pid;
    while (in >> tag >> pid)
      if (tag == "node") {
        pids.push_back(pid);
        if (running(pid)) track(pid);
      }
    return pids;
  }
  // `reap run ARGS -- sh -c SCRIPT`, with reap's cwd in a private dir.
  RunResult run(const std::vector<std::string>& args, const std::string& script) {
    std::vector<std::string> argv = {reap_bin(), "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--", "sh", "-c", script});
    RunOptions opts;
    opts.cwd = tmp_dir();
    return run_command(argv, opts);
  }
};

TEST_F(RunCommand, ReapsTheOrphanTheCommandLeftAndPassesItsStatusThrough) {
  std::string pidfile = tmp_dir() + "/pids";
  RunResult r =
      run({"-g", "2"}, victim_bin() + " --ready-fd 1 --on-int exit --double-fork --marker " +
                           unique_marker("run") + " > " + pidfile + "; exit 3");
  std::vector<pid_t> pids = pids_in(pidfile);
  ASSERT_EQ(pids.size(), 1u) << r.err;
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_FALSE(running(pids[0])) << "the leaked victim is still running";
  EXPECT_TRUE(
      has_line_like(r.err, "process " + std::to_string(pids[0]) + " (reap-victim): reaped: "))
      << r.err;
  EXPECT_TRUE(r.out.empty()) << "the human report belongs on stderr: " << r.out;
}

TEST_F(RunCommand, FailOnLeakTurnsALeakIntoExitOneAndACleanRunStaysZero) {
  std::string pidfile = tmp_dir() + "/pids";
  RunResult leak = run({"-g", "2", "--fail-on-leak"},
                       victim_bin() + " --ready-fd 1 --on-int exit --double-fork > " + pidfile);
  pids_in(pidfile);
  EXPECT_EQ(leak.exit_code, 1) << leak.err;
  RunResult clean = run({"--fail-on-leak"}, "exit 0");
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  RunResult killed = run({}, "kill -TERM $$");
  EXPECT_EQ(killed.exit_code, 128 + 15) << killed.err;
}

TEST_F(RunCommand, SweepsOnlySegmentsThatAppearedDuringTheRun) {
  std::string dir = shm_dir();
  make_file(dir, "before", 65534, 65534);
  RunResult r = run({"--shm", "--shm-dir", dir, "--uid", "65534"},
                    "for n in during other; do : > " + dir + "/$n && chown 65534 " + dir +
                        "/$n && chmod 600 " + dir + "/$n; done; chown 0 " + dir + "/other");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(exists_nofollow(dir + "/before")) << "a segment older than the run was swept";
  EXPECT_FALSE(exists_nofollow(dir + "/during")) << r.err;
  EXPECT_TRUE(exists_nofollow(dir + "/other")) << "another owner's segment was swept";
  EXPECT_TRUE(has_line(r.err, "shm during: unlinked")) << r.err;
  EXPECT_TRUE(lines_with_prefix(r.err, "shm before").empty())
      << "pre-existing entries are not its leak";
}

TEST_F(RunCommand, JsonReportFollowsTheCommandsOutputOnStdout) {
  RunResult r = run({"--json"}, "echo hello");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.out.rfind("hello\n", 0), 0u) << r.out;
  auto doc = nlohmann::json::parse(r.out.substr(6));
  EXPECT_EQ(doc["processes"]["mode"], "run");
  EXPECT_TRUE(doc["processes"]["items"].empty());
}

TEST_F(RunCommand, RefusalsExitTwoWithOneLine) {
  for (std::vector<std::string> argv : std::vector<std::vector<std::string>>{
           {reap_bin(), "run", "--", "/nonexistent/reap-e2e-command"},
           {reap_bin(), "run"},
           {reap_bin(), "run", "--parent", "12345", "--", "true"},
           {reap_bin(), "run", "--shm-only", "--", "true"},
           {reap_bin(), "run", "--sysv-only", "--", "true"},  // refused before anything runs
           {reap_bin(), "run", "--match", "x", "--", "true"}}) {
    RunResult r = run_command(argv);
    EXPECT_EQ(r.exit_code, 2) << argv.back() << ": " << r.err;
    EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("reap: error: ", 0), 0u) << r.err;
  }
}

}  // namespace
}  // namespace reap_e2e
