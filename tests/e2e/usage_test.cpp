// End-to-end tests of refusals: every bad usage or input exits 2 with one line on stderr
// (`reap: error: ...`) and acts on nothing. Each run is also given something it could wrongly
// act on: a victim below a parent the test started and an unheld segment in a private dir.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

struct BadUsage {
  const char* name;
  std::vector<std::string> args;          // {R} parent, {D} shm dir, {SELF} test pid, {MISSING} a
                                          // pid that does not exist, {LINK} symlink to {D},
                                          // {CWD} fresh dir, {M} unique marker
  const char* stderr_mentions = nullptr;  // placeholder or text the message must contain
};

void PrintTo(const BadUsage& b, std::ostream* os) {
  *os << b.name;
}

const std::vector<std::string> kSweep = {"--shm", "--shm-dir", "{D}", "--uid",
                                         "65534", "-g",        "0.3"};

std::vector<std::string> with_sweep(std::vector<std::string> a) {
  a.insert(a.end(), kSweep.begin(), kSweep.end());
  return a;
}

const BadUsage kBad[] = {
    {"ParentIsTheTestProcessAnAncestorOfReap", with_sweep({"--parent", "{SELF}"})},
    {"ParentMissing", with_sweep({"--parent", "{MISSING}"}), "{MISSING}"},
    // --cwd and --match keep a reap that dropped the bad --parent to our own empty scope.
    {"ParentNotANumber", with_sweep({"-p", "abc", "--cwd", "{CWD}", "--match", "{M}"}), "abc"},
    {"ParentNegative", with_sweep({"-p", "-5", "--cwd", "{CWD}", "--match", "{M}"}), "-5"},
    {"ParentEmpty", with_sweep({"-p", "", "--cwd", "{CWD}", "--match", "{M}"})},
    {"ParentMissingValue", {"--shm-only", "--shm-dir", "{D}", "--uid", "65534", "-p"}},
    {"GraceNegative",
     {"-p", "{R}", "--grace", "-1", "--shm", "--shm-dir", "{D}", "--uid", "65534"}},
    {"GraceNotANumber",
     {"-p", "{R}", "-g", "abc", "--shm", "--shm-dir", "{D}", "--uid", "65534"},
     "abc"},
    {"GraceTrailingGarbage",
     {"-p", "{R}", "-g", "1x", "--shm", "--shm-dir", "{D}", "--uid", "65534"}},
    {"GraceEmpty", {"-p", "{R}", "-g", "", "--shm", "--shm-dir", "{D}", "--uid", "65534"}},
    {"KillWaitNegative", with_sweep({"-p", "{R}", "--kill-wait", "-1"})},
    {"KillWaitEmpty", with_sweep({"-p", "{R}", "--kill-wait", ""})},
    {"ShmDirMissing",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}/missing", "--uid", "65534"},
     "{D}/missing"},
    {"ShmDirIsAFile",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}/leak", "--uid", "65534"},
     "{D}/leak"},
    {"ShmDirIsASymlink",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{LINK}", "--uid", "65534"},
     "{D}"},
    {"ShmDirSymlinkShmOnly", {"--shm-only", "--shm-dir", "{LINK}", "--uid", "65534"}, "{D}"},
    {"UnknownOption", with_sweep({"-p", "{R}", "--no-such-option"}), "--no-such-option"},
    {"StrayArgument", with_sweep({"-p", "{R}", "stray"}), "stray"},
    {"ShmAndShmOnlyTogether",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-only", "--shm-dir", "{D}", "--uid", "65534"}},
    {"ShmAndShmOnlyTogetherNoParent",
     {"--shm", "--shm-only", "--shm-dir", "{D}", "--uid", "65534"}},
    {"MinAgeNotADuration", with_sweep({"-p", "{R}", "--min-age", "abc"}), "abc"},
    {"MinAgeNegative", with_sweep({"-p", "{R}", "--min-age", "-5s"})},
    {"MinAgeUnknownUnit", with_sweep({"-p", "{R}", "--min-age", "5parsecs"}), "5parsecs"},
    {"MinAgeEmpty", with_sweep({"-p", "{R}", "--min-age", ""})},
    {"UidUnknownName",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", "no-such-user-reap-e2e"},
     "no-such-user-reap-e2e"},
    {"UidNegative", {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", "-3"}},
    {"UidTrailingGarbage",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", "65534x"}},
    {"UidEmpty", {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", ""}},
    // (These run in a private IPC namespace with /dev/mqueue hidden: see the test body.)
    {"ParentAndSysvOnly", {"-p", "{R}", "--sysv-only"}, "--sysv-only"},
    {"GraceWithMqueueOnly", {"--mqueue-only", "-g", "1"}, "--mqueue-only"},
    {"SysvAndSysvOnlyTogether", {"--sysv", "--sysv-only"}},
    {"MqueueDirWithoutMqueue",
     {"--shm-only", "--shm-dir", "{D}", "--uid", "65534", "--mqueue-dir", "{D}"},
     "--mqueue-dir needs --mqueue"},
};

class Refusal : public ReapTest, public ::testing::WithParamInterface<BadUsage> {};

TEST_P(Refusal, ExitsTwoWithOneLineAndActsOnNothing) {
  const BadUsage& bad = GetParam();
  enter_private_ipc();  // so that cases with --sysv or --mqueue could touch nothing real
  hide_default_mqueue();
  std::string dir = shm_dir();
  make_file(dir, "leak", 65534, 65534);
  std::string link = tmp_dir() + "/link";
  ASSERT_EQ(::symlink(dir.c_str(), link.c_str()), 0);
  Spawned& r0 = spawn_victim(
      {"--marker", unique_marker("parent"), "--child", "--on-int exit --marker child"}, 2);
  ASSERT_EQ(r0.nodes.size(), 2u);
  pid_t child = r0.nodes[0] == r0.pid ? r0.nodes[1] : r0.nodes[0];

  // A pid that does not exist: a child that has been waited for.
  pid_t missing = ::fork();
  if (missing == 0) ::_exit(0);
  ASSERT_GT(missing, 0);
  ASSERT_EQ(::waitpid(missing, nullptr, 0), missing);
  ASSERT_FALSE(exists_nofollow("/proc/" + std::to_string(missing)));

  std::map<std::string, std::string> subst = {{"{R}", std::to_string(r0.pid)},
                                              {"{D}", dir},
                                              {"{SELF}", std::to_string(::getpid())},
                                              {"{MISSING}", std::to_string(missing)},
                                              {"{LINK}", link},
                                              {"{CWD}", tmp_dir()},
                                              {"{M}", unique_marker("match")}};
  auto expand = [&](std::string s) {
    for (const auto& [k, v] : subst) {
      for (size_t at; (at = s.find(k)) != std::string::npos;) s.replace(at, k.size(), v);
    }
    return s;
  };
  std::vector<std::string> args;
  for (const std::string& a : bad.args) args.push_back(expand(a));

  RunResult r = run_reap(args);
  EXPECT_EQ(r.exit_code, 2);
  auto err = r.err_lines();
  ASSERT_EQ(err.size(), 1u) << "want exactly one line on stderr:\n" << r.err;
  EXPECT_EQ(err[0].rfind("reap: error: ", 0), 0u) << err[0];
  if (bad.stderr_mentions != nullptr) {
    std::string want = expand(bad.stderr_mentions);
    EXPECT_NE(err[0].find(want), std::string::npos) << "message should name " << want;
  }
  EXPECT_TRUE(r.out.empty()) << "nothing acted on, nothing reported:\n" << r.out;
  EXPECT_TRUE(running(child)) << "the victim was signalled";
  EXPECT_TRUE(running(r0.pid)) << "the parent was signalled";
  EXPECT_TRUE(exists_nofollow(dir + "/leak")) << "the segment was unlinked";
  EXPECT_TRUE(exists_nofollow(link));
}

INSTANTIATE_TEST_SUITE_P(BadUsage, Refusal, ::testing::ValuesIn(kBad),
                         [](const ::testing::TestParamInfo<BadUsage>& i) {
                           return std::string(i.param.name);
                         });

class Usage : public ReapTest {};

TEST_F(Usage, ParentIsReapItself) {
  // `exec` keeps the shell's pid, so $$ is reap's own pid.
  std::string dir = shm_dir();
  make_file(dir, "leak", 65534, 65534);
  RunResult r = run_command(
      {"sh", "-c", "exec \"$0\" -p $$ -g 0.3 --shm --shm-dir \"$1\" --uid 65534", reap_bin(), dir});
  EXPECT_EQ(r.exit_code, 2);
  auto err = r.err_lines();
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_EQ(err[0].rfind("reap: error: ", 0), 0u) << err[0];
  EXPECT_TRUE(exists_nofollow(dir + "/leak"));
}

TEST_F(Usage, ParentIsPid1) {
  // PID 1 of a private PID namespace, so a reap that wrongly accepts it can only harm the
  // namespace the test made. reap enters it with nsenter, so PID 1 is not its ancestor there:
  // the refusal is for being PID 1.
  Spawned& ns = spawn(
      {"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", victim_bin(), "--ready-fd",
       "3", "--marker", unique_marker("nsinit"), "--child", "--on-int exit --marker child"},
      2, /*wait_exit=*/false, /*track_reported=*/false);
  // The namespace's init (host pid) is unshare's child; its child is the victim.
  std::vector<pid_t> init = proc_children(ns.pid);
  ASSERT_EQ(init.size(), 1u);
  track(init[0]);
  std::vector<pid_t> below = proc_children(init[0]);
  ASSERT_EQ(below.size(), 1u);
  track(below[0]);
  std::string dir = shm_dir();
  make_file(dir, "leak", 65534, 65534);

  RunResult r =
      run_command({"nsenter", "--target", std::to_string(init[0]), "--pid", "--mount", reap_bin(),
                   "-p", "1", "-g", "0.3", "--shm", "--shm-dir", dir, "--uid", "65534"});
  std::cerr << "--- stdout\n" << r.out << "--- stderr\n" << r.err << "---\n";
  EXPECT_EQ(r.exit_code, 2);
  auto err = r.err_lines();
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_EQ(err[0].rfind("reap: error: ", 0), 0u) << err[0];
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(running(init[0]));
  EXPECT_TRUE(running(below[0]));
  EXPECT_TRUE(exists_nofollow(dir + "/leak"));
}

TEST_F(Usage, Version) {
  for (const char* opt : {"-V", "--version"}) {
    RunResult r = run_reap({opt});
    EXPECT_EQ(r.exit_code, 0) << opt;
    EXPECT_FALSE(r.out.empty()) << opt;
    EXPECT_EQ(r.out_lines().size(), 1u) << r.out;
  }
}

}  // namespace
}  // namespace reap_e2e
