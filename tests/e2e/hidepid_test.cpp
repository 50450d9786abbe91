// /proc mounted with hidepid: other users' processes are hidden (hidepid=2, "invisible") or
// listed but unreadable (hidepid=1, "noaccess"). reap, running as uid 65534 against such a
// private procfs (inside its own mount and PID namespaces), must fail closed: a segment that
// another user could open is kept as unverifiable; a private one of its own uid is not.
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

class Hidepid : public ReapTest,
                public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

TEST_P(Hidepid, SegmentsOthersCouldOpenAreKeptAsUnverifiable) {
  if (unprivileged())
    GTEST_SKIP() << "mounts a procfs (needs root); the root pass runs reap as uid 65534 in it";
  const auto [option, expected_reason] = GetParam();
  std::string dir = shm_dir();
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  make_file(dir, "private", 65534, 65534, 0600);
  make_file(dir, "shared", 65534, 65534, 0660);
  std::string mnt = tmp_dir();
  // A root process (hidden from uid 65534) runs in the namespace while reap scans.
  std::string script = "mount -t proc -o " + std::string(option) + " proc " + mnt +
                       " && { sleep 30 & } && exec setpriv --reuid=65534 --regid=65534 "
                       "--clear-groups " +
                       reap_bin() + " -n --json --shm-only --shm-dir " + dir +
                       " --uid 65534 --proc " + mnt;
  RunResult r =
      run_command({"unshare", "-m", "--pid", "--fork", "--kill-child", "sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> items;
  for (const auto& item : doc["shm"]["items"]) items[item["name"]] = item;
  EXPECT_EQ(items["private"]["verdict"], "would_unlink") << r.out;
  EXPECT_EQ(items["shared"]["verdict"], "kept") << r.out;
  EXPECT_NE(items["shared"]["reason"].get<std::string>().find(expected_reason), std::string::npos)
      << r.out;
  EXPECT_TRUE(exists_nofollow(dir + "/private")) << "a dry run removed something";
}

INSTANTIATE_TEST_SUITE_P(
    Modes, Hidepid,
    ::testing::Values(std::make_pair("hidepid=2", "hidden by hidepid=invisible"),
                      std::make_pair("hidepid=1", "/proc/PID is unreadable (hidepid)")),
    [](const auto& param_info) {
      return std::string(param_info.index == 0 ? "Invisible" : "NoAccess");
    });

}  // namespace
}  // namespace reap_e2e
