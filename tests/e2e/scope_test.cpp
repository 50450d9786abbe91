// End-to-end tests of `reap scope save|reap`: the root is reap's parent (this test process);
// only what appeared below it after `save` is reaped. Victims are reap-victim processes the
// test started; the sweep dir is private.
#include <fstream>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

class Scope : public ReapTest {
 protected:
  const std::string& base() {  // tmp_dir() makes a new directory on each call
    if (base_.empty()) base_ = tmp_dir() + "/baseline";
    return base_;
  }
  std::string base_;
};

TEST_F(Scope, ReapsOnlyWhatAppearedBelowTheCallerSinceSave) {
  auto& before = spawn_victim({"--marker", unique_marker()});
  auto save = run_command({reap_bin(), "scope", "save", base()}, as_reap_user());
  ASSERT_EQ(save.exit_code, 0) << save.err;
  auto& after = spawn_victim({"--marker", unique_marker()});
  auto& ignorer = spawn_victim({"--on-int", "ignore"});
  auto r = run_command({reap_bin(), "scope", "reap", base(), "-g", "5"}, as_reap_user());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // the ignorer needed SIGKILL
  EXPECT_TRUE(has_line_like(r.out, "process " + std::to_string(after.nodes[0]) +
                                       " (reap-victim): reaped: exited after SIGINT"))
      << r.out;
  EXPECT_TRUE(has_line(r.out, "process " + std::to_string(ignorer.nodes[0]) +
                                  " (reap-victim): killed: ignores SIGINT, sent SIGKILL"))
      << r.out;
  EXPECT_TRUE(running(before.nodes[0])) << "a process from before save was signalled";
  EXPECT_TRUE(wait_gone(after.nodes[0], std::chrono::seconds(5)));
}

TEST_F(Scope, SweepsOnlySegmentsThatAppearedSinceSave) {
  std::string dir = shm_dir();
  make_file(dir, "old", act_uid(), act_uid());
  auto save = run_command({reap_bin(), "scope", "save", base(), "--shm-dir", dir}, as_reap_user());
  ASSERT_EQ(save.exit_code, 0) << save.err;
  make_file(dir, "new", act_uid(), act_uid());
  auto r = run_command(
      {reap_bin(), "scope", "reap", base(), "--shm", "--uid", std::to_string(act_uid())},
      as_reap_user());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "shm new: unlinked")) << r.out;
  EXPECT_TRUE(exists_nofollow(dir + "/old"));
  EXPECT_FALSE(exists_nofollow(dir + "/new"));
}

TEST_F(Scope, RefusesABaselineOfAnotherCallerAMalformedOneAndShmWithoutADir) {
  ASSERT_EQ(run_command({reap_bin(), "scope", "save", base()}, as_reap_user()).exit_code, 0);
  auto& victim = spawn_victim({"--marker", unique_marker()});
  // From a shell, reap's parent is the shell: not the process the baseline was saved for.
  auto other = run_command({"sh", "-c", reap_bin() + " scope reap " + base()}, as_reap_user());
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_TRUE(has_line_like(other.err, "reap: error: scope: " + base() + " was saved for pid "))
      << other.err;
  auto shm = run_command({reap_bin(), "scope", "reap", base(), "--shm"}, as_reap_user());
  EXPECT_EQ(shm.exit_code, 2);
  EXPECT_TRUE(has_line_like(shm.err, "reap: error: scope reap --shm: ", "records no --shm-dir"))
      << shm.err;
  const std::string junk_file = tmp_dir() + "/junk";  // one dir: tmp_dir() makes a new one
  std::ofstream(junk_file) << "not a baseline\n";
  auto junk = run_command({reap_bin(), "scope", "reap", junk_file}, as_reap_user());
  EXPECT_EQ(junk.exit_code, 2);
  EXPECT_EQ(junk.err_lines().size(), 1u) << junk.err;
  EXPECT_TRUE(running(victim.nodes[0])) << "a refusal acted";
}

}  // namespace
}  // namespace reap_e2e
