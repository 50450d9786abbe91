// End-to-end tests of the process phase: descendant mode (--parent of a process the test
// started) and orphan mode (victims orphaned onto this test process, which is a subreaper and
// is named with --adopter; a fresh --cwd and a unique --match scope every run).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

// Grace for runs whose victims exit on SIGINT: only an upper bound (reap stops waiting when
// they are gone), long enough for a victim to handle SIGINT on a loaded machine under
// sanitizers. Tests about the grace itself pass a short one.
constexpr const char* kGrace = "10";
// Bound on waiting for a process that reap reported as reaped or killed to be gone.
constexpr std::chrono::seconds kGone{10};

std::vector<std::string> argv_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

// Whether argv has "--marker" followed by exactly `marker` (a parent's "--child" spec that
// merely mentions it does not count).
bool has_marker(pid_t pid, const std::string& marker) {
  std::vector<std::string> a = argv_of(pid);
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == "--marker" && a[i + 1] == marker) return true;
  return false;
}

class ProcessPhase : public ReapTest {
 protected:
  // The report lines about pid.
  static std::vector<std::string> about(const RunResult& r, pid_t pid) {
    return lines_with_prefix(r.out, "process " + std::to_string(pid) + " (");
  }
  static std::string victim(pid_t pid) {
    return "process " + std::to_string(pid) + " (reap-victim): ";
  }
  // The one node started with "--marker <marker>".
  static pid_t node_with(const Spawned& s, const std::string& marker) {
    pid_t found = -1;
    for (pid_t p : s.nodes) {
      if (has_marker(p, marker)) {
        EXPECT_EQ(found, -1) << "two nodes have marker " << marker;
        found = p;
      }
    }
    EXPECT_NE(found, -1) << "no node has marker " << marker;
    return found;
  }
  // Starts a parent R (exits on SIGINT, so a wrong SIGINT to it shows) with the given
  // children; `lines` counts R and every process below it.
  Spawned& parent_with(const std::vector<std::string>& children, int lines,
                       bool subreaper = false) {
    std::vector<std::string> args = {"--marker", unique_marker("parent")};
    if (subreaper) args.emplace_back("--subreaper");
    for (const std::string& c : children) {
      args.emplace_back("--child");
      args.push_back(c);
    }
    return spawn_victim(args, lines);
  }
  RunResult reap_parent(pid_t parent, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--parent", std::to_string(parent)};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_reap(args);
  }
  static std::string summary(const RunResult& r) {
    auto s = lines_with_prefix(r.out, "summary: ");
    return s.size() == 1 ? s[0] : "<" + std::to_string(s.size()) + " summary lines>";
  }
};

TEST_F(ProcessPhase, DescendantExitsOnSigintIsReapedAndParentUntouched) {
  Spawned& r0 = parent_with({"--on-int exit --marker child"}, 2);
  pid_t v = node_with(r0, "child");
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  auto lines = about(r, v);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0].rfind(victim(v) + "reaped: exited after SIGINT in ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[0].substr(lines[0].size() - 2), " s") << lines[0];
  EXPECT_TRUE(about(r, r0.pid).empty()) << "the --parent PID itself is not a candidate";
  EXPECT_EQ(summary(r).rfind("summary: processes 1 reaped, 0 killed, 0 survived", 0), 0u)
      << summary(r);
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(running(r0.pid)) << "reap must not signal the --parent PID";
}

TEST_F(ProcessPhase, ShortParentOption) {
  Spawned& r0 = parent_with({"--on-int exit"}, 2);
  pid_t v = r0.nodes[0] == r0.pid ? r0.nodes[1] : r0.nodes[0];
  RunResult r = run_reap({"-p", std::to_string(r0.pid), "-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(about(r, v).size(), 1u) << r.out;
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, IgnoresSigintIsKilledAtOnce) {
  Spawned& r0 = parent_with({"--on-int ignore --marker child"}, 2);
  pid_t v = node_with(r0, "child");
  // A long grace: the SIGKILL must come at once, not after the grace.
  RunResult r = reap_parent(r0.pid, {"--grace", "20"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has_line(r.out, victim(v) + "killed: ignores SIGINT, sent SIGKILL")) << r.out;
  EXPECT_LT(r.seconds, 10.0) << "waited for the grace although SIGINT is ignored";
  EXPECT_EQ(summary(r).rfind("summary: processes 0 reaped, 1 killed, 0 survived", 0), 0u)
      << summary(r);
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, CatchesSigintButLingersIsKilledAfterGrace) {
  Spawned& r0 = parent_with({"--on-int linger --marker child"}, 2);
  pid_t v = node_with(r0, "child");
  RunResult r = reap_parent(r0.pid, {"-g", "0.3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has_line(r.out, victim(v) + "killed: SIGKILL after 0.3 s grace")) << r.out;
  EXPECT_GE(r.seconds, 0.3);
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, StoppedProcessGetsSigcontAndHandlesSigint) {
  Spawned& r0 = parent_with({"--on-int exit --stop --marker child"}, 2);
  pid_t v = node_with(r0, "child");
  ASSERT_TRUE(wait_state(v, 'T', std::chrono::seconds(5))) << "victim did not stop";
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  auto lines = about(r, v);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  EXPECT_EQ(lines[0].rfind(victim(v) + "reaped: exited after SIGINT in ", 0), 0u) << lines[0];
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, ChildForkedOnSigintIsReapedToo) {
  // R is a subreaper, so the child forked by the victim stays in R's subtree when the
  // victim exits.
  Spawned& r0 = parent_with({"--on-int fork --marker child"}, 2, /*subreaper=*/true);
  pid_t v = node_with(r0, "child");
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  read_ready(r0, 1, std::chrono::seconds(2));
  ASSERT_EQ(r0.forked.size(), 1u);
  pid_t f = r0.forked[0];
  EXPECT_EQ(r.exit_code, 0);
  auto lv = about(r, v);
  auto lf = about(r, f);
  ASSERT_EQ(lv.size(), 1u) << r.out;
  ASSERT_EQ(lf.size(), 1u) << "the child forked on SIGINT was missed:\n" << r.out;
  EXPECT_EQ(lv[0].rfind(victim(v) + "reaped: exited after SIGINT in ", 0), 0u) << lv[0];
  EXPECT_EQ(lf[0].rfind(victim(f) + "reaped: exited after SIGINT in ", 0), 0u) << lf[0];
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(wait_gone(f, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, WholeTreeIsReaped) {
  // child + 3 + 9 = 13 processes below R.
  Spawned& r0 = parent_with({"--on-int exit --tree 2 3 --marker child"}, 14);
  ASSERT_EQ(r0.nodes.size(), 14u);
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  int reaped = 0;
  for (pid_t p : r0.nodes) {
    if (p == r0.pid) continue;
    auto l = about(r, p);
    ASSERT_EQ(l.size(), 1u) << "pid " << p << "\n" << r.out;
    EXPECT_EQ(l[0].rfind(victim(p) + "reaped: exited after SIGINT in ", 0), 0u) << l[0];
    ++reaped;
    EXPECT_TRUE(wait_gone(p, kGone)) << p;
  }
  EXPECT_EQ(reaped, 13);
  EXPECT_EQ(summary(r).rfind("summary: processes 13 reaped, 0 killed, 0 survived", 0), 0u)
      << summary(r);
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, MixedTreeExitCodeIsOneWhenSigkillWasNeeded) {
  Spawned& r0 = parent_with({"--on-int exit --marker polite", "--on-int ignore --marker rude"}, 3);
  pid_t polite = node_with(r0, "polite");
  pid_t rude = node_with(r0, "rude");
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(about(r, polite).size(), 1u) << r.out;
  EXPECT_EQ(about(r, polite)[0].rfind(victim(polite) + "reaped: ", 0), 0u) << r.out;
  EXPECT_TRUE(has_line(r.out, victim(rude) + "killed: ignores SIGINT, sent SIGKILL")) << r.out;
  EXPECT_TRUE(wait_gone(polite, kGone));
  EXPECT_TRUE(wait_gone(rude, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, ZombieBelowVictimCountsAsGone) {
  // child (does not wait for its own exited child) + its zombie.
  Spawned& r0 = parent_with({"--on-int exit --zombie --marker child"}, 3);
  pid_t v = node_with(r0, "child");
  ASSERT_EQ(r0.zombies.size(), 1u);
  pid_t z = r0.zombies[0];
  ASSERT_EQ(proc_state(z), 'Z');
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(about(r, v).size(), 1u) << r.out;
  EXPECT_EQ(about(r, v)[0].rfind(victim(v) + "reaped: ", 0), 0u) << r.out;
  for (const std::string& l : about(r, z))
    EXPECT_EQ(l.rfind("process " + std::to_string(z) + " (reap-victim): gone", 0), 0u) << l;
  EXPECT_TRUE(wait_gone(v, kGone));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, OnlyAZombieBelowParentNeedsNothing) {
  Spawned& r0 = spawn_victim({"--zombie", "--marker", unique_marker("zparent")}, 2);
  ASSERT_EQ(r0.zombies.size(), 1u);
  pid_t z = r0.zombies[0];
  // A zombie treated as alive would be waited for the whole (long) grace.
  RunResult r = reap_parent(r0.pid, {"-g", "30"});
  EXPECT_EQ(r.exit_code, 0);
  for (const std::string& l : about(r, z))
    EXPECT_EQ(l.rfind("process " + std::to_string(z) + " (reap-victim): gone", 0), 0u) << l;
  EXPECT_LT(r.seconds, 15.0);
  EXPECT_TRUE(running(r0.pid));
  EXPECT_EQ(proc_state(z), 'Z') << "still R's unreaped child";
}

TEST_F(ProcessPhase, OtherUidInSubtreeIsKept) {
  Spawned& r0 = parent_with({"--on-int exit --drop 65528:65528 --marker other"}, 2);
  pid_t v = node_with(r0, "other");
  ASSERT_EQ(proc_uid(v), 65528u);
  RunResult r = reap_parent(r0.pid, {"-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(
      has_line(r.out, victim(v) + "kept: owned by uid 65528, not " + std::to_string(reap_uid())))
      << r.out;
  EXPECT_TRUE(running(v));
  EXPECT_TRUE(running(r0.pid));
}

TEST_F(ProcessPhase, UidSelectsWhoseProcessesAndSegments) {
  // Process phase and sweep in one run, acting for uid 65527 (reap as root). An unprivileged
  // reap can act only for its own uid: then the run names that one, and root is the other.
  const uid_t who = unprivileged() ? act_uid() : 65527;
  const std::string w = std::to_string(who);
  std::string dir = shm_dir();
  make_file(dir, "leak", who, who);
  Spawned& r0 = parent_with(
      {"--on-int exit --drop " + w + ":" + w + " --marker theirs", "--on-int exit --marker root"},
      3);  // R starts as root (the child drops), so "root" is root in both passes
  pid_t theirs = node_with(r0, "theirs");
  pid_t mine = node_with(r0, "root");
  RunResult r = reap_parent(r0.pid, {"-g", kGrace, "--uid", w, "--shm", "--shm-dir", dir});
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(about(r, theirs).size(), 1u) << r.out;
  EXPECT_EQ(about(r, theirs)[0].rfind(victim(theirs) + "reaped: ", 0), 0u) << r.out;
  EXPECT_TRUE(has_line(r.out, victim(mine) + "kept: owned by uid 0, not " + w)) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm leak: unlinked")) << r.out;
  // Process lines come before the sweep's.
  auto lines = r.out_lines();
  size_t last_proc = 0, first_shm = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("process ", 0) == 0) last_proc = i;
    if (lines[i].rfind("shm ", 0) == 0 && first_shm == lines.size()) first_shm = i;
  }
  EXPECT_LT(last_proc, first_shm) << r.out;
  EXPECT_TRUE(wait_gone(theirs, kGone));
  EXPECT_TRUE(running(mine));
  EXPECT_FALSE(exists_nofollow(dir + "/leak"));
}

// One run, both phases: a leaked process holds a segment by mapping; once the process phase
// has killed it, the sweep (which reads /proc again after acting) removes the segment. The
// dry run already says so, since the holder is about to be reaped.
TEST_F(ProcessPhase, SegmentOfAReapedHolderIsSweptInTheSameRun) {
  const std::string u = std::to_string(act_uid());
  std::string dir = shm_dir();
  make_file(dir, "held", act_uid(), act_uid());
  make_file(dir, "other", act_uid(), act_uid());
  // sh is the parent (it outlives the holder, then sleeps); its background job, the holder
  // (of the --uid once it holds the segment), ignores SIGINT, as sh makes it.
  Spawned& parent = spawn({"sh", "-c",
                           holder_bin() + " --ready-fd 3 --drop " + u + ":" + u + " mmap:" + dir +
                               "/held & wait; exec sleep 30"},
                          1);
  ASSERT_EQ(parent.nodes.size(), 1u);
  pid_t holder = parent.nodes[0];
  pid_t other = spawn_holder({"fd:" + dir + "/other"});  // not below the parent: stays
  const std::string holder_line = "process " + std::to_string(holder) + " (reap-holder): ";
  const std::string other_kept =
      "shm other: kept: open by pid " + std::to_string(other) + " (reap-holder)";

  RunResult dry = reap_parent(parent.pid, {"-n", "--shm", "--shm-dir", dir, "--uid", u});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_TRUE(has_line(dry.out, holder_line + "would kill: ignores SIGINT, SIGKILL at once"))
      << dry.out;
  EXPECT_TRUE(has_line(dry.out, "shm held: would unlink")) << dry.out;
  EXPECT_TRUE(has_line(dry.out, other_kept)) << dry.out;
  EXPECT_TRUE(running(holder));

  RunResult r = reap_parent(parent.pid, {"-g", "1", "--shm", "--shm-dir", dir, "--uid", u});
  EXPECT_EQ(r.exit_code, 1) << r.out;  // SIGKILL was needed
  EXPECT_TRUE(has_line(r.out, holder_line + "killed: ignores SIGINT, sent SIGKILL")) << r.out;
  EXPECT_TRUE(has_line(r.out, "shm held: unlinked")) << r.out;
  EXPECT_TRUE(has_line(r.out, other_kept)) << r.out;
  EXPECT_FALSE(exists_nofollow(dir + "/held"));
  EXPECT_TRUE(exists_nofollow(dir + "/other"));
  EXPECT_TRUE(running(other));
  EXPECT_TRUE(running(parent.pid)) << "the --parent process itself was signalled";
}

TEST_F(ProcessPhase, DryRunSignalsNothing) {
  std::string dir = shm_dir();
  make_file(dir, "leak", 65534, 65534);
  Spawned& r0 = parent_with({"--on-int exit --marker polite", "--on-int ignore --marker rude"}, 3);
  pid_t polite = node_with(r0, "polite");
  pid_t rude = node_with(r0, "rude");
  RunResult r = reap_parent(r0.pid, {"-n", "-g", "0.3", "--shm", "--shm-dir", dir, "--uid",
                                     std::to_string(reap_uid()), "--kill-wait", "1"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, victim(polite) + "would reap: SIGINT, then SIGKILL after 0.3 s"))
      << r.out;
  EXPECT_TRUE(has_line(r.out, victim(rude) + "would kill: ignores SIGINT, SIGKILL at once"))
      << r.out;
  EXPECT_TRUE(
      has_line(r.out, "shm leak: kept: owned by uid 65534, not " + std::to_string(reap_uid())))
      << r.out;
  EXPECT_TRUE(running(polite)) << "dry run sent SIGINT";
  EXPECT_TRUE(running(rude));
  EXPECT_TRUE(running(r0.pid));
  EXPECT_TRUE(exists_nofollow(dir + "/leak"));
}

// ---- orphan mode ---------------------------------------------------------------------------

class OrphanMode : public ProcessPhase {
 protected:
  void SetUp() override {
    ProcessPhase::SetUp();
    cwd_ = tmp_dir();
    marker_ = unique_marker("orphan");
  }
  // A double-forked victim: the exec'd process exits at once, its child is adopted by this
  // test process (a subreaper).
  pid_t orphan(const std::string& cwd, const std::string& marker, const std::string& on_int,
               std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--double-fork", "--chdir",  cwd,   "--marker",
                                     marker,          "--on-int", on_int};
    args.insert(args.end(), more.begin(), more.end());
    Spawned& s = spawn_victim(args, 1, /*wait_exit=*/true);
    if (s.nodes.size() != 1) return -1;
    pid_t p = s.nodes[0];
    EXPECT_EQ(proc_ppid(p), ::getpid()) << "victim was not adopted by the test process";
    return p;
  }
  RunResult reap_orphans(std::vector<std::string> extra = {}, const std::string& grace = kGrace) {
    std::vector<std::string> args = {
        "--adopter", std::to_string(::getpid()), "--cwd", cwd_, "--match", marker_, "-g", grace};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_reap(args);
  }
  std::string cwd_;
  std::string marker_;
};

TEST_F(OrphanMode, OnlyOrphansWithMatchingCwdAndMarkerAreReaped) {
  std::string other_cwd = tmp_dir();
  pid_t target = orphan(cwd_, marker_, "exit");
  pid_t rude = orphan(cwd_, marker_, "ignore");
  pid_t other_dir = orphan(other_cwd, marker_, "exit");
  pid_t no_marker = orphan(cwd_, unique_marker("unrelated"), "exit");
  // Matching cwd and marker, but its parent is alive and not an adopter: not an orphan.
  Spawned& parent = spawn_victim({"--marker", unique_marker("p"), "--child",
                                  "--on-int exit --chdir " + cwd_ + " --marker " + marker_},
                                 2);
  pid_t not_orphan = parent.nodes[0] == parent.pid ? parent.nodes[1] : parent.nodes[0];

  RunResult r = reap_orphans();
  EXPECT_EQ(r.exit_code, 1) << "one victim needed SIGKILL";
  ASSERT_EQ(about(r, target).size(), 1u) << r.out;
  EXPECT_EQ(about(r, target)[0].rfind(victim(target) + "reaped: exited after SIGINT in ", 0), 0u)
      << r.out;
  EXPECT_TRUE(has_line(r.out, victim(rude) + "killed: ignores SIGINT, sent SIGKILL")) << r.out;
  for (pid_t p : {other_dir, no_marker, not_orphan, parent.pid}) {
    for (const std::string& l : about(r, p)) {
      EXPECT_EQ(l.find(": reaped"), std::string::npos) << l;
      EXPECT_EQ(l.find(": killed"), std::string::npos) << l;
    }
    EXPECT_TRUE(running(p)) << "pid " << p << " should have been left alone";
  }
  EXPECT_TRUE(wait_gone(target, kGone));
  EXPECT_TRUE(wait_gone(rude, kGone));
}

TEST_F(OrphanMode, DryRunSignalsNothing) {
  pid_t target = orphan(cwd_, marker_, "exit");
  RunResult r = reap_orphans({"--dry-run"}, "0.3");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, victim(target) + "would reap: SIGINT, then SIGKILL after 0.3 s"))
      << r.out;
  EXPECT_TRUE(running(target));
}

TEST_F(OrphanMode, JsonModeIsOrphan) {
  pid_t target = orphan(cwd_, marker_, "exit");
  RunResult r = reap_orphans({"--json"});
  EXPECT_EQ(r.exit_code, 0);
  nlohmann::json d;
  ASSERT_NO_THROW(d = nlohmann::json::parse(r.out)) << r.out;
  ASSERT_TRUE(d["processes"].is_object()) << r.out;
  EXPECT_EQ(d["processes"].value("mode", std::string()), "orphan");
  EXPECT_TRUE(d["shm"].is_null());
  ASSERT_EQ(d["processes"]["items"].size(), 1u) << r.out;
  const nlohmann::json& it = d["processes"]["items"][0];
  EXPECT_EQ(it.value("pid", -1L), target);
  EXPECT_EQ(it.value("verdict", std::string()), "reaped");
  std::vector<std::string> want = argv_of(target);
  EXPECT_TRUE(want.empty() || it["cmdline"] == nlohmann::json(want)) << it.dump();
  bool has = false;
  for (const auto& a : it["cmdline"]) has = has || a == marker_;
  EXPECT_TRUE(has) << it.dump();
  EXPECT_TRUE(wait_gone(target, kGone));
}

// Documented (docs/CLI.md): adopters are PID 1, `systemd --user` of the --uid and each
// --adopter PID; other subreapers cannot be recognised from /proc. An orphan adopted by a
// same-uid subreaper that is none of these is not taken. The same run naming that subreaper
// with --adopter does take it, so the first run had something it could have acted on.
TEST_F(OrphanMode, NotAnAdopterWithoutAdopterOption) {
  Spawned& sub =
      spawn_victim({"--subreaper", "--marker", unique_marker("subreaper"), "--child",
                    "--double-fork --on-int exit --chdir " + cwd_ + " --marker " + marker_},
                   2);
  ASSERT_EQ(sub.nodes.size(), 2u);
  pid_t target = node_with(sub, marker_);
  // The victim reports before its first process has surely exited: wait for the adoption.
  auto deadline = std::chrono::steady_clock::now() + kGone;
  while (proc_ppid(target) != sub.pid && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(proc_ppid(target), sub.pid) << "the orphan was not adopted by the subreaper";
  ASSERT_EQ(proc_uid(sub.pid), reap_uid());
  ASSERT_EQ(proc_uid(target), reap_uid());

  RunResult r = run_reap({"--cwd", cwd_, "--match", marker_, "-g", kGrace});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(about(r, target).empty()) << "an orphan of an unnamed subreaper was taken:\n"
                                        << r.out;
  EXPECT_TRUE(running(target));
  EXPECT_TRUE(running(sub.pid));

  RunResult named = run_reap(
      {"--cwd", cwd_, "--match", marker_, "-g", kGrace, "--adopter", std::to_string(sub.pid)});
  EXPECT_EQ(named.exit_code, 0);
  ASSERT_EQ(about(named, target).size(), 1u) << named.out;
  EXPECT_EQ(about(named, target)[0].rfind(victim(target) + "reaped: ", 0), 0u) << named.out;
  EXPECT_TRUE(wait_gone(target, kGone));
  EXPECT_TRUE(running(sub.pid)) << "the adopter itself is not a candidate";
}

TEST_F(OrphanMode, ChildForkedOnSigintIsReapedToo) {
  pid_t target = orphan(cwd_, marker_, "fork");
  RunResult r = reap_orphans();
  Spawned& s = spawned_.back();
  read_ready(s, 1, std::chrono::seconds(2));
  ASSERT_EQ(s.forked.size(), 1u);
  pid_t f = s.forked[0];
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(about(r, target).size(), 1u) << r.out;
  ASSERT_EQ(about(r, f).size(), 1u) << "the child forked on SIGINT was missed:\n" << r.out;
  EXPECT_EQ(about(r, f)[0].rfind(victim(f) + "reaped: exited after SIGINT in ", 0), 0u) << r.out;
  EXPECT_TRUE(wait_gone(target, kGone));
  EXPECT_TRUE(wait_gone(f, kGone));
}

TEST_F(OrphanMode, MatchIsRepeatable) {
  // Documented: repeated --match means any of them. Each victim matches one: both are reaped.
  std::string second = unique_marker("second");
  pid_t a = orphan(cwd_, marker_, "exit");
  pid_t b = orphan(cwd_, second, "exit");
  RunResult r = reap_orphans({"--match", second});
  EXPECT_EQ(r.exit_code, 0);
  for (pid_t p : {a, b}) {
    auto l = about(r, p);
    ASSERT_EQ(l.size(), 1u) << "pid " << p << "\n" << r.out;
    EXPECT_EQ(l[0].rfind(victim(p) + "reaped: exited after SIGINT in ", 0), 0u) << l[0];
    EXPECT_TRUE(wait_gone(p, kGone)) << p;
  }
}

// In a private PID namespace the orphans are adopted by that namespace's PID 1, which reap
// treats as an adopter without --adopter. Everything in the namespace dies with its init.
TEST_F(OrphanMode, PidNamespaceInitIsTheAdopter) {
  std::string other_cwd = tmp_dir();
  std::string scratch = tmp_dir();
  const char* script = R"SH(
set -u
victim="$1"; reap="$2"; cwd="$3"; other="$4"; marker="$5"; ready="$6"; as="$7"
: > "$ready"
$as "$victim" --ready-fd 3 --double-fork --chdir "$cwd" --marker "$marker" 3>>"$ready"
while [ "$(wc -l < "$ready")" -lt 1 ]; do sleep 0.01; done
$as "$victim" --ready-fd 3 --double-fork --chdir "$other" --marker "$marker" 3>>"$ready"
while [ "$(wc -l < "$ready")" -lt 2 ]; do sleep 0.01; done
target=$(sed -n '1s/node //p' "$ready")
decoy=$(sed -n '2s/node //p' "$ready")
echo "target=$target decoy=$decoy ppid=$(awk '/^PPid/{print $2}' /proc/$target/status)"
$as "$reap" --cwd "$cwd" --match "$marker" -g 10
echo "rc=$?"
st=$(awk '{print $3}' /proc/$target/stat 2>/dev/null)
echo "target_state=${st:-gone}"
st=$(awk '{print $3}' /proc/$decoy/stat 2>/dev/null)
echo "decoy_state=${st:-gone}"
)SH";
  RunResult r = run_command({"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh",
                             "-c", script, "sh", victim_bin(), reap_bin(), cwd_, other_cwd, marker_,
                             scratch + "/ready", setpriv_words(reap_uid())});
  std::cerr << "--- namespace run stdout\n" << r.out << "--- stderr\n" << r.err << "---\n";
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto head = lines_with_prefix(r.out, "target=");
  ASSERT_EQ(head.size(), 1u) << r.out;
  pid_t target = 0, decoy = 0, ppid = 0;
  ASSERT_EQ(std::sscanf(head[0].c_str(), "target=%d decoy=%d ppid=%d", &target, &decoy, &ppid), 3)
      << head[0];
  EXPECT_EQ(ppid, 1) << "victim not adopted by the namespace's init";
  EXPECT_TRUE(has_line(r.out, "rc=0")) << r.out;
  ASSERT_EQ(about(r, target).size(), 1u) << r.out;
  EXPECT_EQ(about(r, target)[0].rfind(victim(target) + "reaped: exited after SIGINT in ", 0), 0u)
      << r.out;
  EXPECT_TRUE(about(r, decoy).empty()) << r.out;
  EXPECT_TRUE(has_line(r.out, "target_state=Z") || has_line(r.out, "target_state=gone")) << r.out;
  EXPECT_TRUE(has_line(r.out, "decoy_state=S")) << r.out;
}

}  // namespace
}  // namespace reap_e2e
