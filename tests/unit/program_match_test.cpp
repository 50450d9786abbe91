#include "core/program_match.hpp"

#include <gtest/gtest.h>

#include "fake_snapshot.hpp"

namespace reap::core {
namespace {

using testing::args;

TEST(ProgramMatch, ArgumentsAreNotThePrograms) {
  // A daemon whose arguments mention python is not a python program; nor is `tail` of a file.
  EXPECT_FALSE(program_matches(args({"/usr/sbin/foo", "--lib", "/usr/lib/python3/x"}),
                               "/usr/sbin/foo", "foo", {"python"}));
  EXPECT_FALSE(program_matches(args({"tail", "-f", "notes-python.txt"}), "/usr/bin/tail", "tail",
                               {"python"}));
  // A shell whose inline code runs python is a shell.
  EXPECT_FALSE(
      program_matches(args({"sh", "-c", "python3 x.py"}), "/usr/bin/dash", "sh", {"python"}));
}

TEST(ProgramMatch, Argv0ExecutableScriptAndModuleArePrograms) {
  EXPECT_TRUE(program_matches(args({"python3", "-u", "x.py"}), "/usr/bin/python3.11", "python3",
                              {"python"}));
  // The executable path names the package a helper binary ships in.
  EXPECT_TRUE(program_matches(args({"torch_shm_manager", "--x"}),
                              "/usr/lib/python3/dist-packages/torch/bin/torch_shm_manager",
                              "torch_shm_manage", {"python"}));
  // multiprocessing's spawned children: argv[0] is the interpreter.
  EXPECT_TRUE(program_matches(args({"/usr/bin/python3", "-c",
                                    "from multiprocessing.spawn import spawn_main; spawn_main()"}),
                              "/usr/bin/python3.11", "python3", {"python"}));
  // The script or -m module of an interpreter.
  EXPECT_TRUE(program_matches(args({"python3", "-X", "dev", "-m", "mytests.runner"}),
                              "/usr/bin/python3.11", "python3", {"mytests"}));
  EXPECT_TRUE(program_matches(args({"python3", "-Wignore", "/srv/app/worker.py", "--n", "2"}),
                              "/usr/bin/python3.11", "python3", {"worker.py"}));
  EXPECT_TRUE(program_matches(args({"node", "--inspect", "srv/index.js"}), "/usr/bin/node", "node",
                              {"index.js"}));
  // The arguments after the script are still not the program.
  EXPECT_FALSE(program_matches(args({"python3", "x.py", "--mode", "worker"}), "/usr/bin/python3.11",
                               "python3", {"worker"}));
  // A deleted executable still names itself.
  EXPECT_TRUE(program_matches(args({"./a"}), "/tmp/build/mytool (deleted)", "a", {"mytool"}));
}

TEST(ProgramMatch, TractorMarkersCountAnywhere) {
  EXPECT_TRUE(program_matches(args({"/opt/bin/runner", "_subactor[", "a"}), "/opt/bin/runner", "x",
                              {"nothing"}));
  EXPECT_TRUE(program_matches(args({"x"}), "/x", "_subactor[a]", {"nothing"}));
}

}  // namespace
}  // namespace reap::core
