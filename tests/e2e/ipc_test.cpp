// End-to-end tests of the SysV and message queue sweeps, the unlinked-but-held report, the
// likely-creator hints, and `reap run` sweeping only what appeared during the run, for every
// kind of leak.
//
// Each test first moves its own process into a private IPC namespace and a private mount
// namespace (ReapTest::enter_private_ipc), so every segment and queue it makes, every helper
// it starts and reap itself live there: reap sees the test's SysV segments and nothing of the
// machine's, and sweeps queues on an mqueue file system (of that namespace) that the test
// mounted on a private directory. Objects are owned by act_uid() (an unused uid, 65534, as
// root; the test uid in the unprivileged pass) and the sweeps pass --uid for it (or run as
// that uid), as in the shm tests. Processes reap must inspect run as reap_uid().
#include <errno.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

// --uid for act_uid().
std::string owner() {
  return std::to_string(act_uid());
}

class PrivateIpc : public ReapTest {
 protected:
  void SetUp() override {
    ReapTest::SetUp();
    enter_private_ipc();
  }

  // reap-holder with specs, as uid (setpriv; root when uid is 0). Returns its pid. With
  // exits, the holder leaves what it made behind and is collected: its pid is gone.
  pid_t holder(uid_t uid, const std::vector<std::string>& specs, bool exits = false) {
    std::vector<std::string> argv;
    if (uid != 0)
      argv = {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid),
              "--clear-groups"};
    argv.insert(argv.end(), {holder_bin(), "--ready-fd", "3"});
    if (exits) argv.push_back("--exit");
    argv.insert(argv.end(), specs.begin(), specs.end());
    Spawned& s = spawn(argv, 1);
    if (exits) {
      int status = 0;
      while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
      }
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "holder status " << status;
    }
    return s.pid;
  }
  pid_t gone_holder(uid_t uid, const std::vector<std::string>& specs) {
    return holder(uid, specs, true);
  }

  static int shmid_of(key_t key) { return ::shmget(key, 0, 0); }
  static bool segment_exists(int shmid) {
    struct shmid_ds ds {};
    return ::shmctl(shmid, IPC_STAT, &ds) == 0;
  }
  // How reap names a segment in its report: "shmid N key 0xK".
  static std::string sysv_name(int shmid, key_t key) {
    char k[32];
    std::snprintf(k, sizeof k, "0x%x", static_cast<unsigned>(key));
    return "shmid " + std::to_string(shmid) + " key " + k;
  }

  RunResult run_guarded(const std::vector<std::string>& argv, const RunOptions& opts = {}) {
    std::string why;
    if (!ipc_scoped(argv, why)) {
      ADD_FAILURE() << "refusing to run: " << why;
      return {};
    }
    RunResult r = run_command(argv, opts);
    std::cerr << "[exit " << r.exit_code << "] " << ::testing::PrintToString(argv)
              << "\n--- stdout\n"
              << r.out << "--- stderr\n"
              << r.err << "---\n";
    return r;
  }
};

// ---- SysV shared memory ---------------------------------------------------------------------

using SysvSweep = PrivateIpc;

TEST_F(SysvSweep, RemovesOnlyUnattachedSegmentsWhoseCreatorAndLastUserAreGone) {
  pid_t dead = gone_holder(act_uid(), {"sysv:0x5201"});
  pid_t dead2 = gone_holder(act_uid(), {"sysv:0x5202"});
  pid_t last = gone_holder(act_uid(), {"shmat:0x5202"});  // attached, then detached at exit
  gone_holder(act_uid(), {"sysv:0x5203"});
  pid_t attached = holder(act_uid(), {"shmat:0x5203"});
  pid_t creator = holder(act_uid(), {"sysv:0x5204"});
  gone_holder(4242, {"sysv:0x5205"});  // another uid's, creator gone
  gone_holder(act_uid(), {"sysv:0x5206"});
  holder(act_uid(), {"shmat:0x5206"});
  int marked = shmid_of(0x5206);
  ASSERT_EQ(::shmctl(marked, IPC_RMID, nullptr), 0);  // marked; freed at the last detach
  std::map<key_t, int> id;
  for (key_t k : {0x5201, 0x5202, 0x5203, 0x5204, 0x5205}) {
    id[k] = shmid_of(k);
    ASSERT_GE(id[k], 0) << std::hex << k;
  }

  auto dry = run_reap({"--sysv-only", "--uid", owner(), "-n"});
  EXPECT_EQ(dry.exit_code, 0);
  EXPECT_TRUE(has_line(dry.out, "sysv " + sysv_name(id[0x5201], 0x5201) +
                                    ": would remove: unattached; creator pid " +
                                    std::to_string(dead) + " gone"));
  EXPECT_TRUE(has_line(dry.out,
                       "summary: sysv 2 would be removed, 3 kept, 0 errors (dry run: "
                       "nothing was done)"));
  for (auto [k, shmid] : id) EXPECT_TRUE(segment_exists(shmid)) << std::hex << k;

  auto r = run_reap({"--sysv-only", "--uid", owner()});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "sysv " + sysv_name(id[0x5201], 0x5201) +
                                  ": removed: unattached; creator pid " + std::to_string(dead) +
                                  " gone"));
  EXPECT_TRUE(has_line(r.out, "sysv " + sysv_name(id[0x5202], 0x5202) +
                                  ": removed: unattached; creator pid " + std::to_string(dead2) +
                                  " and last pid " + std::to_string(last) + " gone"));
  EXPECT_TRUE(has_line(r.out, "sysv " + sysv_name(id[0x5203], 0x5203) +
                                  ": kept: attached by 1 process(es), last pid " +
                                  std::to_string(attached)));
  EXPECT_TRUE(has_line(r.out, "sysv " + sysv_name(id[0x5204], 0x5204) + ": kept: creator pid " +
                                  std::to_string(creator) + " is alive"));
  // Once marked, the kernel shows the key as IPC_PRIVATE (0).
  EXPECT_TRUE(has_line(r.out, "sysv " + sysv_name(marked, 0) +
                                  ": kept: marked for destruction: the kernel frees it when the "
                                  "last of 1 attaches ends"));
  EXPECT_TRUE(lines_with_prefix(r.out, "sysv " + sysv_name(id[0x5205], 0x5205)).empty())
      << "another uid's segment is no candidate";
  EXPECT_TRUE(has_line(r.out, "summary: sysv 2 removed, 3 kept, 0 errors"));
  EXPECT_FALSE(segment_exists(id[0x5201]));
  EXPECT_FALSE(segment_exists(id[0x5202]));
  for (int shmid : {id[0x5203], id[0x5204], id[0x5205], marked})
    EXPECT_TRUE(segment_exists(shmid)) << shmid;
}

TEST_F(SysvSweep, JsonAndUnprivileged) {
  gone_holder(act_uid(), {"sysv:0x5211"});
  holder(act_uid(), {"sysv:0x5212"});
  RunOptions as_owner;
  as_owner.as_uid = act_uid();
  auto r = run_reap({"--sysv-only", "--json"}, as_owner);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["sweeps"].size(), 1u);
  EXPECT_EQ(j["sweeps"][0]["kind"], "sysv");
  std::map<std::string, std::string> verdicts;
  for (const auto& i : j["sweeps"][0]["items"]) verdicts[i["name"]] = i["verdict"];
  EXPECT_EQ(verdicts[sysv_name(shmid_of(0x5212), 0x5212)], "kept");
  EXPECT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(j["summary"]["removed"], 1);
  EXPECT_LT(shmid_of(0x5211), 0) << "removed by its owner, unprivileged";
}

// No process inspection decides a SysV verdict (nattch and the pids come from the kernel), so
// what reap cannot verify, it keeps: here, a creator outside reap's PID namespace. reap runs
// as reap_uid() in a PID namespace of its own (unshare needs root; setpriv then drops).
TEST_F(SysvSweep, AnUnseenCreatorKeepsASegment) {
  gone_holder(act_uid(), {"sysv:0x5222"});
  int unseen = shmid_of(0x5222);
  // reap in a PID namespace of its own: the creator (outside it) shows as pid 0.
  std::vector<std::string> argv = {"unshare", "--pid", "--fork", "--mount-proc"};
  for (const std::string& w : setpriv_argv(reap_uid())) argv.push_back(w);
  argv.insert(argv.end(), {reap_bin(), "--sysv-only", "--uid", owner()});
  auto inner = run_guarded(argv);
  EXPECT_EQ(inner.exit_code, 0) << inner.err;
  EXPECT_TRUE(has_line(inner.out, "sysv " + sysv_name(unseen, 0x5222) +
                                      ": kept: unverifiable: its creator is in a PID namespace "
                                      "reap cannot see"));
  EXPECT_TRUE(segment_exists(unseen));
}

// ... so a root-owned segment is judged like any other.
TEST_F(SysvSweep, RootOwnedSegmentsAreJudgedByTheSameFacts) {
  if (unprivileged())
    GTEST_SKIP() << "about a root reap sweeping root-owned segments (as its own uid); an "
                    "unprivileged reap may not remove them, and the policy for its own uid's is "
                    "RemovesOnlyUnattachedSegmentsWhoseCreatorAndLastUserAreGone";
  gone_holder(0, {"sysv:0x5221"});
  int root_owned = shmid_of(0x5221);
  gone_holder(act_uid(), {"sysv:0x5222"});
  int other = shmid_of(0x5222);
  auto r = run_reap({"--sysv-only"});  // as root, for root
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line_like(
      r.out, "sysv " + sysv_name(root_owned, 0x5221) + ": removed: unattached; creator pid "));
  EXPECT_FALSE(segment_exists(root_owned));
  EXPECT_TRUE(segment_exists(other)) << "another owner's segment";
}

// ---- POSIX message queues -------------------------------------------------------------------

using MqueueSweep = PrivateIpc;

// The holder of the open queues runs as act_uid(), which is reap_uid() in the unprivileged
// pass; as root, reap (root) can inspect it anyway.
TEST_F(MqueueSweep, RemovesQueuesNobodyHasOpenAndReportsUnlinkedOpenOnes) {
  std::string mq = private_mqueue_dir();
  gone_holder(act_uid(), {"mq:free", "mq:psm_1a2b"});
  pid_t h = holder(act_uid(), {"mq:held", "mq:unlinked"});
  gone_holder(0, {"mq:rootq"});
  ASSERT_EQ(::unlink((mq + "/unlinked").c_str()), 0);  // still open in h

  auto dry = run_reap({"--mqueue-only", "--mqueue-dir", mq, "--uid", owner(), "-n"});
  EXPECT_EQ(dry.exit_code, 0);
  EXPECT_TRUE(has_line(dry.out, "mqueue free: would remove: no process has it open"));
  EXPECT_TRUE(exists_nofollow(mq + "/free"));

  auto r = run_reap({"--mqueue-only", "--mqueue-dir", mq, "--uid", owner()});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(has_line(r.out, "mqueue free: removed: no process has it open"));
  EXPECT_TRUE(has_line(r.out,
                       "mqueue psm_1a2b: removed: no process has it open (likely Python "
                       "multiprocessing)"));
  EXPECT_TRUE(
      has_line(r.out, "mqueue held: kept: open by pid " + std::to_string(h) + " (reap-holder)"));
  EXPECT_TRUE(has_line(r.out, "mqueue rootq: kept: owned by uid 0, not " + owner()));
  EXPECT_TRUE(has_line_like(
      r.out, "unlinked but open (mqueue): pid " + std::to_string(h) + " (reap-holder) holds ",
      " bytes until it exits"));
  EXPECT_TRUE(has_line_like(r.out,
                            "summary: mqueue 2 removed, 2 kept, 0 errors; 1 unlinked "
                            "files still held ("));
  EXPECT_FALSE(exists_nofollow(mq + "/free"));
  EXPECT_FALSE(exists_nofollow(mq + "/psm_1a2b"));
  EXPECT_TRUE(exists_nofollow(mq + "/held"));
  EXPECT_TRUE(exists_nofollow(mq + "/rootq"));
}

TEST_F(MqueueSweep, JsonAndUnprivileged) {
  std::string mq = private_mqueue_dir();
  gone_holder(act_uid(), {"mq:free"});
  holder(act_uid(), {"mq:held"});
  RunOptions as_owner;
  as_owner.as_uid = act_uid();
  auto r = run_reap({"--mqueue-only", "--mqueue-dir", mq, "--json"}, as_owner);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["sweeps"].size(), 1u);
  EXPECT_EQ(j["sweeps"][0]["kind"], "mqueue");
  std::map<std::string, std::string> verdicts;
  for (const auto& i : j["sweeps"][0]["items"]) verdicts[i["name"]] = i["verdict"];
  EXPECT_EQ(verdicts["free"], "removed");
  EXPECT_EQ(verdicts["held"], "kept");
  EXPECT_FALSE(exists_nofollow(mq + "/free"));
}

TEST_F(MqueueSweep, AnUnmountedDefaultIsNothingToDoAndAnExplicitNonMqueueDirIsAnError) {
  hide_default_mqueue();
  auto r = run_reap({"--mqueue-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has_line(r.out,
                       "mqueue /dev/mqueue: no mqueue file system is mounted there: nothing to "
                       "do (reap mounts nothing)"));
  // A private directory that is no mqueue file system: refused before anything is done (run
  // unguarded on purpose: the directory holds only this file).
  std::string plain = tmp_dir();
  make_file(plain, "q", act_uid(), act_uid());
  auto bad = run_command({reap_bin(), "--mqueue-only", "--mqueue-dir", plain, "--uid", owner()},
                         as_reap_user());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(has_line(bad.err,
                       "reap: error: --mqueue-dir " + plain + ": not a mounted mqueue file system"))
      << bad.err;
  EXPECT_TRUE(bad.out.empty());
  EXPECT_TRUE(exists_nofollow(plain + "/q"));
}

// ---- The unlinked-but-held report and the likely creator ------------------------------------

using ReportHints = PrivateIpc;

// The holders run as reap_uid(), so reap can inspect them; the files are act_uid()'s.
TEST_F(ReportHints, UnlinkedButMappedSegmentAndNamePatterns) {
  // A tmpfs of its own: the unlinked-but-held report covers the whole file system, and here
  // nothing else can be on it, so the total is exact.
  std::string dir = private_tmpfs();
  ASSERT_EQ(::chown(dir.c_str(), act_uid(), act_uid()), 0);
  pid_t dead = gone_holder(reap_uid(), {});
  make_file(dir, "mapped", act_uid(), act_uid(), 0600, 8192);
  pid_t h = holder(reap_uid(), {"mmap:" + dir + "/mapped"});
  ASSERT_EQ(::unlink((dir + "/mapped").c_str()), 0);  // only the mapping holds it now
  std::string d = std::to_string(dead), l = std::to_string(h);
  for (const std::string& name :
       std::vector<std::string>{"torch_" + d + "_1_0", "torch_" + l + "_1_0", "psm_7f3a",
                                "__KMP_REGISTERED_LIB_" + d, "plain"})
    make_file(dir, name, act_uid(), act_uid());

  auto j = run_reap({"--shm-only", "--shm-dir", dir, "--uid", owner(), "-n", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  std::map<std::string, nlohmann::json> likely;
  for (const auto& s : doc["shm"]["items"]) likely[s["name"]] = s["likely"];
  EXPECT_EQ(likely["torch_" + d + "_1_0"],
            (nlohmann::json{{"creator", "PyTorch"}, {"pid", dead}, {"pid_alive", false}}));
  EXPECT_EQ(likely["torch_" + l + "_1_0"],
            (nlohmann::json{{"creator", "PyTorch"}, {"pid", h}, {"pid_alive", true}}));
  EXPECT_TRUE(likely["plain"].is_null());
  ASSERT_EQ(doc["unlinked"].size(), 1u);
  EXPECT_EQ(doc["unlinked"][0]["pid"], h);
  EXPECT_EQ(doc["unlinked"][0]["comm"], "reap-holder");
  EXPECT_EQ(doc["unlinked"][0]["held_by"], "mapping");
  EXPECT_EQ(doc["unlinked"][0]["size"], 8192);
  EXPECT_EQ(doc["summary"]["unlinked_held_bytes"], 8192);

  auto r = run_reap({"--shm-only", "--shm-dir", dir, "--uid", owner()});
  EXPECT_EQ(r.exit_code, 0);
  // The hint never changes a verdict: a name with a live pid is unlinked when nothing holds it.
  EXPECT_TRUE(
      has_line(r.out, "shm torch_" + d + "_1_0: unlinked (likely PyTorch, pid " + d + " gone)"));
  EXPECT_TRUE(
      has_line(r.out, "shm torch_" + l + "_1_0: unlinked (likely PyTorch, pid " + l + " alive)"));
  EXPECT_TRUE(has_line(r.out, "shm psm_7f3a: unlinked (likely Python multiprocessing)"));
  EXPECT_TRUE(has_line(r.out, "shm __KMP_REGISTERED_LIB_" + d +
                                  ": unlinked (likely Intel/LLVM OpenMP, pid " + d + " gone)"));
  EXPECT_TRUE(has_line(r.out, "shm plain: unlinked"));
  EXPECT_TRUE(has_line(r.out, "unlinked but mapped (shm): pid " + l +
                                  " (reap-holder) holds 8192 bytes until it exits"));
  EXPECT_TRUE(has_line_like(r.out,
                            "summary: shm 5 unlinked, 0 kept, 0 errors; 1 unlinked files "
                            "still held (8192 bytes)"));
  EXPECT_TRUE(running(h)) << "the report acts on nothing";
}

// ---- reap run: only what appeared during the run, for every kind ----------------------------

using RunSweeps = PrivateIpc;

TEST_F(RunSweeps, SweepsOnlyWhatAppearedDuringTheRunForEachKind) {
  std::string uds = tmp_dir();
  ASSERT_EQ(::chown(uds.c_str(), act_uid(), act_uid()), 0);
  std::string mq = private_mqueue_dir();
  std::string shm = private_tmpfs();
  ASSERT_EQ(::chown(shm.c_str(), act_uid(), act_uid()), 0);
  // Left behind before the run: a stale socket file, a queue nobody has open, an unattached
  // segment whose creator is gone, an unheld shm file. None of them is the run's leak.
  gone_holder(act_uid(), {"uds:" + uds + "/before.sock", "mq:before", "sysv:0x5301"});
  make_file(shm, "before", act_uid(), act_uid());
  int before_seg = shmid_of(0x5301);
  ASSERT_GE(before_seg, 0);

  // The command leaves the same kinds behind (reap-holder as CMD, exiting at once).
  std::vector<std::string> argv = {reap_bin(),
                                   "run",
                                   "--shm",
                                   "--shm-dir",
                                   shm,
                                   "--uds",
                                   "--uds-dir",
                                   uds,
                                   "--mqueue",
                                   "--mqueue-dir",
                                   mq,
                                   "--sysv",
                                   "--fail-on-leak",
                                   "--",
                                   holder_bin(),
                                   "--exit",
                                   "uds:" + uds + "/during.sock",
                                   "mq:during",
                                   "sysv:0x5302"};
  RunOptions as_owner;
  as_owner.as_uid = act_uid();
  as_owner.cwd = tmp_dir();
  RunResult r = run_guarded(argv, as_owner);
  EXPECT_EQ(r.exit_code, 1) << "the run leaked, and --fail-on-leak says so";
  EXPECT_TRUE(has_line(r.err, "uds during.sock: removed: nothing bound")) << r.err;
  EXPECT_TRUE(has_line(r.err, "mqueue during: removed: no process has it open")) << r.err;
  auto sysv_lines = lines_with_prefix(r.err, "sysv shmid ");
  ASSERT_EQ(sysv_lines.size(), 1u) << r.err;
  EXPECT_NE(sysv_lines[0].find(" key 0x5302: removed: unattached; creator pid "), std::string::npos)
      << sysv_lines[0];
  for (const char* kind : {"uds before", "mqueue before", "shm before"})
    EXPECT_TRUE(lines_with_prefix(r.err, kind).empty()) << kind << " is not the run's";
  EXPECT_TRUE(lines_with_prefix(r.err, "sysv " + sysv_name(before_seg, 0x5301)).empty());
  EXPECT_TRUE(exists_nofollow(uds + "/before.sock"));
  EXPECT_TRUE(exists_nofollow(mq + "/before"));
  EXPECT_TRUE(exists_nofollow(shm + "/before"));
  EXPECT_TRUE(segment_exists(before_seg));
  EXPECT_FALSE(exists_nofollow(uds + "/during.sock"));
  EXPECT_FALSE(exists_nofollow(mq + "/during"));
  EXPECT_LT(shmid_of(0x5302), 0);
}

}  // namespace
}  // namespace reap_e2e
