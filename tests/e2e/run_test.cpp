// End-to-end tests of `reap run`: reap supervises a command as its subreaper, passes its exit
// status through, and afterwards reaps exactly what the command left behind. Commands here
// only start reap-victim processes and touch files in a private shm dir.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

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
  // `reap run ARGS -- sh -c SCRIPT`, with reap.s cwd in a private dir, as reap_uid().
  RunResult run(const std::vector<std::string>& args, const std::string& script) {
    std::vector<std::string> argv = {reap_bin(), "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--", "sh", "-c", script});
    return run_argv(argv);
  }
  // Shell text that starts a victim that double-forks (so it is left behind) and waits until
  // it has written its pid to pidfile, so the command cannot end before its leak exists.
  static std::string leak_victim(const std::string& pidfile, const std::string& more = "") {
    return victim_bin() + " --ready-fd 1 --on-int exit --double-fork " + more + " > " + pidfile +
           " 2>/dev/null; until [ -s " + pidfile + " ]; do sleep 0.01; done";
  }
  RunResult run_argv(const std::vector<std::string>& argv) {
    RunOptions opts;
    opts.cwd = tmp_dir();
    return run_command(argv, as_reap_user(opts));
  }
};

TEST_F(RunCommand, ReapsTheOrphanTheCommandLeftAndPassesItsStatusThrough) {
  std::string pidfile = tmp_dir() + "/pids";
  RunResult r =
      run({"-g", "10"}, leak_victim(pidfile, "--marker " + unique_marker("run")) + "; exit 3");
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
  RunResult leak = run({"-g", "10", "--fail-on-leak"}, leak_victim(pidfile));
  pids_in(pidfile);
  EXPECT_EQ(leak.exit_code, 1) << leak.err;
  RunResult clean = run({"--fail-on-leak"}, "exit 0");
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  RunResult killed = run({}, "kill -TERM $$");
  EXPECT_EQ(killed.exit_code, 128 + 15) << killed.err;
}

TEST_F(RunCommand, SweepsOnlySegmentsThatAppearedDuringTheRun) {
  // CMD makes "during" (of the --uid); while CMD waits, this test makes "other" (root's): both
  // appear during the run, only the first is the --uid's.
  const std::string u = std::to_string(act_uid());
  std::string dir = shm_dir();
  std::string sync = tmp_dir();
  make_file(dir, "before", act_uid(), act_uid());
  std::thread other_owner([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!exists_nofollow(sync + "/go") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    int fd = ::open((dir + "/other").c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    fd = ::open((sync + "/done").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  });
  RunResult r = run({"--shm", "--shm-dir", dir, "--uid", u},
                    ": > " + dir + "/during && chown " + u + " " + dir + "/during && chmod 600 " +
                        dir + "/during && : > " + sync + "/go && while [ ! -e " + sync +
                        "/done ]; do sleep 0.01; done");
  other_owner.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(exists_nofollow(sync + "/done")) << "the test did not make the other segment";
  EXPECT_TRUE(exists_nofollow(dir + "/before")) << "a segment older than the run was swept";
  EXPECT_FALSE(exists_nofollow(dir + "/during")) << r.err;
  EXPECT_TRUE(exists_nofollow(dir + "/other")) << "another owner's segment was swept";
  EXPECT_TRUE(has_line(r.err, "shm during: unlinked")) << r.err;
  EXPECT_TRUE(has_line(r.err, "shm other: kept: owned by uid 0, not " + u)) << r.err;
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

// Each refused run is given a CMD that, if it ran, would mark that it ran, leave a victim and
// a segment of the --uid: a refusal that is ignored fails the test. The same CMD under a valid
// `reap run` shows that the marks are made and the leak reaped.
TEST_F(RunCommand, RefusalsExitTwoWithOneLineAndRunNothing) {
  const std::string u = std::to_string(act_uid());
  std::string dir = shm_dir();
  std::string scratch = tmp_dir();
  // As root the victim drops to the --uid itself (unprivileged, it already runs as it).
  const std::string drop = unprivileged() ? "" : "--drop " + u + ":" + u;
  const std::string leak = dir + "/leak";
  const std::string script = ": > " + scratch + "/ran; " + leak_victim(scratch + "/pids", drop) +
                             "; : > " + leak + " && chmod 600 " + leak + " && chown " + u + " " +
                             leak;
  const std::vector<std::string> cmd = {"--", "sh", "-c", script};
  auto with_cmd = [&](std::vector<std::string> a) {
    a.insert(a.begin(), {reap_bin(), "run"});
    a.insert(a.end(), cmd.begin(), cmd.end());
    return a;
  };
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {reap_bin(), "run", "--", "/nonexistent/reap-e2e-command"},
           {reap_bin(), "run"},
           with_cmd({"--parent", "12345", "--shm", "--shm-dir", dir, "--uid", u}),
           with_cmd({"--shm-only", "--shm-dir", dir, "--uid", u}),
           with_cmd({"--match", "x", "--shm", "--shm-dir", dir, "--uid", u}),
           with_cmd({"--cwd", scratch, "--shm", "--shm-dir", dir, "--uid", u}),
           with_cmd({"--adopter", "1", "--shm", "--shm-dir", dir, "--uid", u}),
           with_cmd({"-g", "abc", "--shm", "--shm-dir", dir, "--uid", u}),
           with_cmd({"--sysv-only"})}) {  // refused before anything runs
    RunResult r = run_argv(argv);
    const std::string what = ::testing::PrintToString(argv);
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
    EXPECT_EQ(r.err_lines().size(), 1u) << what << ": " << r.err;
    EXPECT_EQ(r.err.rfind("reap: error: ", 0), 0u) << what << ": " << r.err;
    EXPECT_FALSE(exists_nofollow(scratch + "/ran")) << what << ": CMD was run";
    EXPECT_TRUE(pids_in(scratch + "/pids").empty()) << what << ": CMD started a victim";
  }

  // A command typed without `--` is refused, and the error says where it goes.
  RunResult no_sep = run_argv({reap_bin(), "run", "sh", "-c", script});
  EXPECT_EQ(no_sep.exit_code, 2) << no_sep.err;
  EXPECT_EQ(no_sep.err_lines().size(), 1u) << no_sep.err;
  EXPECT_NE(no_sep.err.find("a command goes after --: reap run [options] -- CMD"),
            std::string::npos)
      << no_sep.err;
  EXPECT_FALSE(exists_nofollow(scratch + "/ran")) << "CMD was run without --";

  RunResult ok = run_argv(with_cmd({"-g", "10", "--shm", "--shm-dir", dir, "--uid", u}));
  std::vector<pid_t> pids = pids_in(scratch + "/pids");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(exists_nofollow(scratch + "/ran"));
  ASSERT_EQ(pids.size(), 1u) << ok.err;
  EXPECT_FALSE(running(pids[0])) << ok.err;
  EXPECT_TRUE(has_line(ok.err, "shm leak: unlinked")) << ok.err;
}

}  // namespace
}  // namespace reap_e2e
