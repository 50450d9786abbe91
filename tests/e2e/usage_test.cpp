// End-to-end tests of refusals: every bad usage or input exits 2 with one line on stderr
// (`reap: error: ...`) and acts on nothing. Each run is also given something it could wrongly
// act on (see RefusalScene), and a control run with valid arguments shows reap acting on it.
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
                                          // {CWD} fresh dir, {M} unique marker, {UID} the
                                          // --uid (act_uid())
  const char* stderr_mentions = nullptr;  // placeholder or text the message must contain
};

void PrintTo(const BadUsage& b, std::ostream* os) {
  *os << b.name;
}

const std::vector<std::string> kSweep = {"--shm", "--shm-dir", "{D}", "--uid",
                                         "{UID}", "-g",        "0.3"};

std::vector<std::string> with_sweep(std::vector<std::string> a) {
  a.insert(a.end(), kSweep.begin(), kSweep.end());
  return a;
}

const BadUsage kBad[] = {
    {"ParentIsTheTestProcessAnAncestorOfReap", with_sweep({"--parent", "{SELF}"})},
    {"ParentMissing", with_sweep({"--parent", "{MISSING}"}), "{MISSING}"},
    // A reap that dropped the bad --parent would run in orphan mode, on the orphan in {CWD}.
    {"ParentNotANumber",
     with_sweep({"-p", "abc", "--cwd", "{CWD}", "--match", "{M}", "--adopter", "{SELF}"}), "abc"},
    {"ParentNegative",
     with_sweep({"-p", "-5", "--cwd", "{CWD}", "--match", "{M}", "--adopter", "{SELF}"}), "-5"},
    {"ParentEmpty",
     with_sweep({"-p", "", "--cwd", "{CWD}", "--match", "{M}", "--adopter", "{SELF}"})},
    {"ParentMissingValue", {"--shm-only", "--shm-dir", "{D}", "--uid", "{UID}", "-p"}},
    {"GraceNegative",
     {"-p", "{R}", "--grace", "-1", "--shm", "--shm-dir", "{D}", "--uid", "{UID}"}},
    {"GraceNotANumber",
     {"-p", "{R}", "-g", "abc", "--shm", "--shm-dir", "{D}", "--uid", "{UID}"},
     "abc"},
    {"GraceTrailingGarbage",
     {"-p", "{R}", "-g", "1x", "--shm", "--shm-dir", "{D}", "--uid", "{UID}"}},
    {"GraceEmpty", {"-p", "{R}", "-g", "", "--shm", "--shm-dir", "{D}", "--uid", "{UID}"}},
    {"KillWaitNegative", with_sweep({"-p", "{R}", "--kill-wait", "-1"})},
    {"KillWaitEmpty", with_sweep({"-p", "{R}", "--kill-wait", ""})},
    {"ShmDirMissing",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}/missing", "--uid", "{UID}"},
     "{D}/missing"},
    {"ShmDirIsAFile",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}/leak", "--uid", "{UID}"},
     "{D}/leak"},
    {"ShmDirIsASymlink",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{LINK}", "--uid", "{UID}"},
     "{D}"},
    {"ShmDirSymlinkShmOnly", {"--shm-only", "--shm-dir", "{LINK}", "--uid", "{UID}"}, "{D}"},
    {"UnknownOption", with_sweep({"-p", "{R}", "--no-such-option"}), "--no-such-option"},
    {"StrayArgument", with_sweep({"-p", "{R}", "stray"}), "stray"},
    {"ShmAndShmOnlyTogether",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-only", "--shm-dir", "{D}", "--uid", "{UID}"}},
    {"ShmAndShmOnlyTogetherNoParent",
     {"--shm", "--shm-only", "--shm-dir", "{D}", "--uid", "{UID}"}},
    {"MinAgeNotADuration", with_sweep({"-p", "{R}", "--min-age", "abc"}), "abc"},
    {"MinAgeNegative", with_sweep({"-p", "{R}", "--min-age", "-5s"})},
    {"MinAgeUnknownUnit", with_sweep({"-p", "{R}", "--min-age", "5parsecs"}), "5parsecs"},
    {"MinAgeEmpty", with_sweep({"-p", "{R}", "--min-age", ""})},
    {"UidUnknownName",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", "no-such-user-reap-e2e"},
     "no-such-user-reap-e2e"},
    {"UidNegative", {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", "-3"}},
    {"UidTrailingGarbage",
     {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", "{UID}x"}},
    {"UidEmpty", {"-p", "{R}", "-g", "0.3", "--shm", "--shm-dir", "{D}", "--uid", ""}},
    // (These run in a private IPC namespace with /dev/mqueue hidden: see the test body.)
    {"ParentAndSysvOnly", {"-p", "{R}", "--sysv-only"}, "--sysv-only"},
    {"GraceWithMqueueOnly", {"--mqueue-only", "-g", "1"}, "--mqueue-only"},
    {"SysvAndSysvOnlyTogether", {"--sysv", "--sysv-only"}},
    {"MqueueDirWithoutMqueue",
     {"--shm-only", "--shm-dir", "{D}", "--uid", "65534", "--mqueue-dir", "{D}"},
     "--mqueue-dir needs --mqueue"},
};

// What every refused run is given to act on wrongly, all of it the --uid's (act_uid(): the
// uid reap runs as in the unprivileged pass) and in the run's scope: a child below the parent
// R, an orphan in {CWD} with the marker {M}, adopted by this test process ({SELF}, named with
// --adopter where the run has --cwd), and an unheld segment in {D}. R itself starts as root
// (the child drops to the --uid). The control test runs the same scene with valid arguments
// and sees each of them acted on, so a refusal that is ignored fails.
class RefusalScene : public ReapTest {
 protected:
  void SetUp() override {
    ReapTest::SetUp();
    if (HasFatalFailure()) return;
    enter_private_ipc();  // so that cases with --sysv or --mqueue could touch nothing real
    hide_default_mqueue();
    const std::string u = std::to_string(act_uid());
    dir_ = shm_dir();
    make_file(dir_, "leak", act_uid(), act_uid());
    link_ = tmp_dir() + "/link";
    ASSERT_EQ(::symlink(dir_.c_str(), link_.c_str()), 0);
    Spawned& r0 = spawn_victim({"--marker", unique_marker("parent"), "--child",
                                "--on-int exit --drop " + u + ":" + u + " --marker child"},
                               2);
    ASSERT_EQ(r0.nodes.size(), 2u);
    parent_ = r0.pid;
    child_ = r0.nodes[0] == r0.pid ? r0.nodes[1] : r0.nodes[0];
    ASSERT_EQ(proc_uid(child_), act_uid());
    cwd_ = tmp_dir();
    marker_ = unique_marker("match");
    Spawned& o = spawn_victim({"--double-fork", "--chdir", cwd_, "--marker", marker_, "--on-int",
                               "exit", "--drop", u + ":" + u},
                              1, /*wait_exit=*/true);
    ASSERT_EQ(o.nodes.size(), 1u);
    orphan_ = o.nodes[0];
    ASSERT_EQ(proc_ppid(orphan_), ::getpid());
    ASSERT_EQ(proc_uid(orphan_), act_uid());

    // A pid that does not exist: a child that has been waited for.
    pid_t missing = ::fork();
    if (missing == 0) ::_exit(0);
    ASSERT_GT(missing, 0);
    ASSERT_EQ(::waitpid(missing, nullptr, 0), missing);
    ASSERT_FALSE(exists_nofollow("/proc/" + std::to_string(missing)));

    subst_ = {{"{R}", std::to_string(parent_)},
              {"{D}", dir_},
              {"{SELF}", std::to_string(::getpid())},
              {"{MISSING}", std::to_string(missing)},
              {"{LINK}", link_},
              {"{CWD}", cwd_},
              {"{M}", marker_},
              {"{UID}", u}};
  }
  std::string expand(std::string s) const {
    for (const auto& [k, v] : subst_) {
      for (size_t at; (at = s.find(k)) != std::string::npos;) s.replace(at, k.size(), v);
    }
    return s;
  }
  std::vector<std::string> expand(const std::vector<std::string>& in) const {
    std::vector<std::string> out;
    for (const std::string& a : in) out.push_back(expand(a));
    return out;
  }
  std::string dir_, link_, cwd_, marker_;
  pid_t parent_ = -1, child_ = -1, orphan_ = -1;
  std::map<std::string, std::string> subst_;
};

class Refusal : public RefusalScene, public ::testing::WithParamInterface<BadUsage> {};

TEST_P(Refusal, ExitsTwoWithOneLineAndActsOnNothing) {
  const BadUsage& bad = GetParam();
  RunResult r = run_reap(expand(bad.args));
  EXPECT_EQ(r.exit_code, 2);
  auto err = r.err_lines();
  ASSERT_EQ(err.size(), 1u) << "want exactly one line on stderr:\n" << r.err;
  EXPECT_EQ(err[0].rfind("reap: error: ", 0), 0u) << err[0];
  if (bad.stderr_mentions != nullptr) {
    std::string want = expand(std::string(bad.stderr_mentions));
    EXPECT_NE(err[0].find(want), std::string::npos) << "message should name " << want;
  }
  EXPECT_TRUE(r.out.empty()) << "nothing acted on, nothing reported:\n" << r.out;
  EXPECT_TRUE(running(child_)) << "the victim was signalled";
  EXPECT_TRUE(running(orphan_)) << "the orphan was signalled";
  EXPECT_TRUE(running(parent_)) << "the parent was signalled";
  EXPECT_TRUE(exists_nofollow(dir_ + "/leak")) << "the segment was unlinked";
  EXPECT_TRUE(exists_nofollow(link_));
}

// The control: with valid arguments the same reap acts on each thing the refusals leave.
TEST_F(RefusalScene, WithoutTheMistakeTheSameRunActs) {
  RunResult p =
      run_reap(expand({"-p", "{R}", "-g", "10", "--shm", "--shm-dir", "{D}", "--uid", "{UID}"}));
  EXPECT_EQ(p.exit_code, 0) << p.out;
  EXPECT_TRUE(has_line_like(p.out, "process " + std::to_string(child_) + " (reap-victim): reaped"))
      << p.out;
  EXPECT_TRUE(has_line(p.out, "shm leak: unlinked")) << p.out;
  EXPECT_TRUE(wait_gone(child_, std::chrono::seconds(10)));
  EXPECT_FALSE(exists_nofollow(dir_ + "/leak"));
  EXPECT_TRUE(running(parent_));

  RunResult o = run_reap(expand(
      {"--cwd", "{CWD}", "--match", "{M}", "--adopter", "{SELF}", "-g", "10", "--uid", "{UID}"}));
  EXPECT_EQ(o.exit_code, 0) << o.out;
  EXPECT_TRUE(has_line_like(o.out, "process " + std::to_string(orphan_) + " (reap-victim): reaped"))
      << o.out;
  EXPECT_TRUE(wait_gone(orphan_, std::chrono::seconds(10)));
}

INSTANTIATE_TEST_SUITE_P(BadUsage, Refusal, ::testing::ValuesIn(kBad),
                         [](const ::testing::TestParamInfo<BadUsage>& i) {
                           return std::string(i.param.name);
                         });

class Usage : public ReapTest {};

TEST_F(Usage, ParentIsReapItself) {
  // `exec` keeps the shell's pid, so $$ is reap's own pid. The segment is the --uid's and
  // unheld: a reap that went on would unlink it.
  std::string dir = shm_dir();
  make_file(dir, "leak", act_uid(), act_uid());
  RunResult r = run_command({"sh", "-c", "exec \"$0\" -p $$ -g 0.3 --shm --shm-dir \"$1\" --uid $2",
                             reap_bin(), dir, std::to_string(act_uid())},
                            as_reap_user());
  EXPECT_EQ(r.exit_code, 2);
  auto err = r.err_lines();
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_EQ(err[0].rfind("reap: error: ", 0), 0u) << err[0];
  EXPECT_TRUE(exists_nofollow(dir + "/leak"));
}

TEST_F(Usage, ParentIsPid1) {
  // PID 1 of a private PID namespace, so a reap that wrongly accepts it can only harm the
  // namespace the test made. reap enters it with nsenter, so PID 1 is not its ancestor there:
  // the refusal is for being PID 1. The init and its child run as the --uid, so a reap that
  // went on would signal the child.
  std::vector<std::string> argv = {"unshare", "--pid", "--fork", "--kill-child", "--mount-proc"};
  for (const std::string& w : setpriv_argv(act_uid())) argv.push_back(w);
  argv.insert(argv.end(), {victim_bin(), "--ready-fd", "3", "--marker", unique_marker("nsinit"),
                           "--child", "--on-int exit --marker child"});
  Spawned& ns = spawn(argv, 2, /*wait_exit=*/false, /*track_reported=*/false);
  // The namespace's init (host pid) is unshare's child; its child is the victim.
  std::vector<pid_t> init = proc_children(ns.pid);
  ASSERT_EQ(init.size(), 1u);
  track(init[0]);
  std::vector<pid_t> below = proc_children(init[0]);
  ASSERT_EQ(below.size(), 1u);
  track(below[0]);
  ASSERT_EQ(proc_uid(below[0]), act_uid());
  std::string dir = shm_dir();
  make_file(dir, "leak", act_uid(), act_uid());

  argv = {"nsenter", "--target", std::to_string(init[0]), "--pid", "--mount"};
  for (const std::string& w : setpriv_argv(reap_uid())) argv.push_back(w);
  argv.insert(argv.end(), {reap_bin(), "-p", "1", "-g", "0.3", "--shm", "--shm-dir", dir, "--uid",
                           std::to_string(act_uid())});
  RunResult r = run_command(argv);
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
