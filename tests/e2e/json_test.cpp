// End-to-end tests of `--json`: one document on stdout, following the schema in docs/CLI.md.
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "fixture.hpp"

namespace reap_e2e {
namespace {

using nlohmann::json;

class JsonReport : public ReapTest {
 protected:
  // Parses stdout as exactly one JSON document (fails the test otherwise).
  static json parse(const RunResult& r) {
    json doc;
    try {
      doc = json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "stdout is not one JSON document: " << e.what() << "\n" << r.out;
      return json::object();
    }
    return doc;
  }
  // Checks the fields every report has.
  static void check_common(const json& d, const RunResult& r, bool dry_run, long uid) {
    ASSERT_TRUE(d.is_object()) << d.dump();
    EXPECT_EQ(d.value("version", -1), 1);
    ASSERT_TRUE(d.contains("dry_run") && d["dry_run"].is_boolean()) << d.dump();
    EXPECT_EQ(d["dry_run"].get<bool>(), dry_run);
    ASSERT_TRUE(d.contains("uid") && d["uid"].is_number_integer()) << d.dump();
    EXPECT_EQ(d["uid"].get<long>(), uid);
    ASSERT_TRUE(d.contains("exit_code") && d["exit_code"].is_number_integer()) << d.dump();
    EXPECT_EQ(d["exit_code"].get<int>(), r.exit_code);
    ASSERT_TRUE(d.contains("processes")) << d.dump();
    ASSERT_TRUE(d.contains("shm")) << d.dump();
    ASSERT_TRUE(d.contains("uninspectable") && d["uninspectable"].is_array()) << d.dump();
    ASSERT_TRUE(d.contains("summary") && d["summary"].is_object()) << d.dump();
    for (const char* k : {"reaped", "killed", "survived", "unlinked", "kept", "errors"}) {
      EXPECT_TRUE(d["summary"].contains(k) && d["summary"][k].is_number_integer())
          << k << " in " << d["summary"].dump();
    }
  }
  static const json* shm_item(const json& d, const std::string& name) {
    if (!d.contains("shm") || !d["shm"].is_object()) return nullptr;
    for (const json& it : d["shm"]["items"])
      if (it.value("name", std::string()) == name) return &it;
    return nullptr;
  }
  static const json* proc_item(const json& d, pid_t pid) {
    if (!d.contains("processes") || !d["processes"].is_object()) return nullptr;
    for (const json& it : d["processes"]["items"])
      if (it.value("pid", -1L) == pid) return &it;
    return nullptr;
  }
};

TEST_F(JsonReport, ShmSweepWithNonUtf8Name) {
  std::string dir = shm_dir();
  const uid_t me = act_uid();
  const std::string u = std::to_string(me);
  make_file(dir, "plain", me, me, 0600, 8192);
  make_file(dir, "\xff\xfeq", me, me);
  make_file(dir, "held", me, me);
  make_file(dir, "theirs", 65533, 65533);
  pid_t h = spawn_holder({"mmap:" + dir + "/held"});

  RunResult r = run_reap({"--shm-only", "--shm-dir", dir, "--uid", u, "--json"});
  EXPECT_EQ(r.exit_code, 0);
  json d = parse(r);
  check_common(d, r, false, me);
  EXPECT_TRUE(d["processes"].is_null()) << "--shm-only: processes must be null";
  ASSERT_TRUE(d["shm"].is_object()) << d.dump();
  EXPECT_EQ(d["shm"].value("dir", std::string()), dir);
  ASSERT_TRUE(d["shm"]["items"].is_array());
  EXPECT_EQ(d["shm"]["items"].size(), 4u) << d.dump(2);

  const json* plain = shm_item(d, "plain");
  ASSERT_NE(plain, nullptr) << d.dump(2);
  EXPECT_EQ(plain->value("verdict", std::string()), "unlinked");
  EXPECT_FALSE(plain->contains("name_hex")) << "name_hex only for non-UTF-8 names";
  EXPECT_EQ(plain->value("uid", -1L), me);
  EXPECT_EQ(plain->value("size", -1L), 8192);

  const json* bin = shm_item(d, "\xef\xbf\xbd\xef\xbf\xbdq");  // U+FFFD U+FFFD q
  ASSERT_NE(bin, nullptr) << d.dump(2);
  EXPECT_EQ(bin->value("name_hex", std::string()), "fffe71");
  EXPECT_EQ(bin->value("verdict", std::string()), "unlinked");

  const json* held = shm_item(d, "held");
  ASSERT_NE(held, nullptr) << d.dump(2);
  EXPECT_EQ(held->value("verdict", std::string()), "kept");
  EXPECT_EQ(held->value("reason", std::string()),
            "mapped by pid " + std::to_string(h) + " (reap-holder)");
  EXPECT_EQ(held->value("holder_pid", -1L), h);

  const json* theirs = shm_item(d, "theirs");
  ASSERT_NE(theirs, nullptr) << d.dump(2);
  EXPECT_EQ(theirs->value("verdict", std::string()), "kept");
  EXPECT_EQ(theirs->value("reason", std::string()), "owned by uid 65533, not " + u);
  EXPECT_EQ(theirs->value("uid", -1L), 65533);

  EXPECT_EQ(d["summary"].value("unlinked", -1), 2);
  EXPECT_EQ(d["summary"].value("kept", -1), 2);
  EXPECT_EQ(d["summary"].value("errors", -1), 0);
  EXPECT_FALSE(exists_nofollow(dir + "/plain"));
  EXPECT_FALSE(exists_nofollow(dir + "/\xff\xfeq"));
  EXPECT_TRUE(exists_nofollow(dir + "/held"));
}

TEST_F(JsonReport, DescendantProcesses) {
  Spawned& r0 =
      spawn_victim({"--marker", unique_marker("parent"), "--child", "--on-int exit --marker polite",
                    "--child", "--on-int ignore --marker rude"},
                   3);
  // A long grace (an upper bound: the polite victim exits at once) holds under load.
  RunResult r = run_reap({"-p", std::to_string(r0.pid), "-g", "10", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  json d = parse(r);
  check_common(d, r, false, reap_uid());
  EXPECT_TRUE(d["shm"].is_null()) << "no sweep ran: shm must be null";
  ASSERT_TRUE(d["processes"].is_object()) << d.dump();
  EXPECT_EQ(d["processes"].value("mode", std::string()), "descendant");
  ASSERT_EQ(d["processes"]["items"].size(), 2u) << d.dump(2);
  int polite = 0, rude = 0;
  for (const json& it : d["processes"]["items"]) {
    ASSERT_TRUE(it["pid"].is_number_integer());
    EXPECT_NE(it["pid"].get<long>(), r0.pid);
    EXPECT_EQ(it.value("comm", std::string()), "reap-victim");
    ASSERT_TRUE(it["cmdline"].is_array()) << it.dump();
    ASSERT_FALSE(it["cmdline"].empty());
    // A victim with --marker M runs as argv[0] "reap-victim[M]" (see the victim helper).
    EXPECT_EQ(it["cmdline"][0].get<std::string>().rfind("reap-victim[", 0), 0u) << it.dump();
    std::string joined;
    for (const json& a : it["cmdline"]) joined += a.get<std::string>() + " ";
    ASSERT_TRUE(it["signals"].is_array()) << it.dump();
    if (joined.find("--marker polite") != std::string::npos) {
      ++polite;
      EXPECT_EQ(it.value("verdict", std::string()), "reaped");
      EXPECT_EQ(it.value("reason", std::string()).rfind("exited after SIGINT in ", 0), 0u);
      EXPECT_EQ(it["signals"], json::array({"SIGINT"}));
      ASSERT_TRUE(it["seconds"].is_number()) << it.dump();
      EXPECT_GE(it["seconds"].get<double>(), 0.0);
      EXPECT_LT(it["seconds"].get<double>(), 10.0);
    } else if (joined.find("--marker rude") != std::string::npos) {
      ++rude;
      EXPECT_EQ(it.value("verdict", std::string()), "killed");
      EXPECT_EQ(it.value("reason", std::string()), "ignores SIGINT, sent SIGKILL");
      EXPECT_EQ(it["signals"], json::array({"SIGKILL"}));
    }
  }
  EXPECT_EQ(polite, 1);
  EXPECT_EQ(rude, 1);
  EXPECT_EQ(d["summary"].value("reaped", -1), 1);
  EXPECT_EQ(d["summary"].value("killed", -1), 1);
  EXPECT_EQ(d["summary"].value("survived", -1), 0);
}

TEST_F(JsonReport, DryRunVerdictsUseUnderscores) {
  const uid_t me = act_uid();
  const std::string u = std::to_string(me);
  std::string dir = shm_dir();
  make_file(dir, "leak", me, me);
  Spawned& r0 = spawn_victim({"--marker", unique_marker("parent"), "--child",
                              "--on-int exit --drop " + u + ":" + u + " --marker polite", "--child",
                              "--on-int ignore --drop " + u + ":" + u + " --marker rude"},
                             3);
  RunResult r = run_reap({"-p", std::to_string(r0.pid), "-g", "0.3", "-n", "--shm", "--shm-dir",
                          dir, "--uid", u, "--json"});
  EXPECT_EQ(r.exit_code, 0);
  json d = parse(r);
  check_common(d, r, true, me);
  ASSERT_TRUE(d["processes"].is_object()) << d.dump();
  std::multiset<std::string> verdicts;
  for (const json& it : d["processes"]["items"]) verdicts.insert(it.value("verdict", ""));
  EXPECT_EQ(verdicts, (std::multiset<std::string>{"would_kill", "would_reap"})) << d.dump(2);
  const json* leak = shm_item(d, "leak");
  ASSERT_NE(leak, nullptr) << d.dump(2);
  EXPECT_EQ(leak->value("verdict", std::string()), "would_unlink");
  EXPECT_TRUE(exists_nofollow(dir + "/leak"));
  for (pid_t p : r0.nodes) EXPECT_TRUE(running(p)) << p;
}

TEST_F(JsonReport, UninspectableListed) {
  std::string dir = shm_dir();
  const uid_t kSweeper = spare_uid(1);
  const std::string s = std::to_string(kSweeper);
  ASSERT_EQ(::chown(dir.c_str(), kSweeper, kSweeper), 0);
  make_file(dir, "held", kSweeper, kSweeper);
  pid_t h = spawn_holder({"--drop", s + ":" + s, "--nondumpable", "fd:" + dir + "/held"});
  RunOptions opts;
  opts.as_uid = kSweeper;
  RunResult r = run_reap({"--shm-only", "--shm-dir", dir, "--json"}, opts);
  EXPECT_EQ(r.exit_code, 0);
  json d = parse(r);
  check_common(d, r, false, kSweeper);
  const json* held = shm_item(d, "held");
  ASSERT_NE(held, nullptr) << d.dump(2);
  EXPECT_EQ(held->value("verdict", std::string()), "kept");
  EXPECT_EQ(held->value("reason", std::string())
                .rfind("unverifiable: pid " + std::to_string(h) +
                           " (reap-holder) could not be inspected (permission denied",
                       0),
            0u)
      << held->dump();
  bool listed = false;
  for (const json& u : d["uninspectable"]) {
    if (u.value("pid", -1L) != h) continue;
    listed = true;
    EXPECT_EQ(u.value("comm", std::string()), "reap-holder");
    EXPECT_EQ(u.value("uid", -1L), kSweeper);
    EXPECT_EQ(u.value("reason", std::string()).rfind("permission denied", 0), 0u) << u.dump();
  }
  EXPECT_TRUE(listed) << d["uninspectable"].dump(2);
  EXPECT_TRUE(exists_nofollow(dir + "/held"));
}

}  // namespace
}  // namespace reap_e2e
