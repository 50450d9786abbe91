// core::attribute: the name patterns of known creators (a hint, never a verdict).
#include "core/attribution.hpp"

#include <gtest/gtest.h>

namespace reap::core {
namespace {

std::string creator(std::string_view name) {
  auto a = attribute(name);
  return a ? std::string(a->creator) : "";
}

TEST(Attribution, KnownPatterns) {
  EXPECT_EQ(creator("torch_4242_1804289383_0"), "PyTorch");
  EXPECT_EQ(creator("psm_5f2a1c"), "Python multiprocessing");
  EXPECT_EQ(creator("sem.mp-abc123"), "Python multiprocessing");
  EXPECT_EQ(creator("sem.loky-17-xyz"), "loky/joblib");
  EXPECT_EQ(creator("joblib_memmapping_folder_17_abc"), "loky/joblib");
  EXPECT_EQ(creator("__KMP_REGISTERED_LIB_31_1000"), "Intel/LLVM OpenMP");
  EXPECT_EQ(creator("nccl-AbCdEf"), "NCCL/RCCL");
  EXPECT_EQ(creator("vader_segment.host.1f2e0001.0"), "Open MPI");
  EXPECT_EQ(creator("sgl_shm_deadbeef"), "sglang");
  EXPECT_EQ(creator(".org.chromium.Chromium.Xyz"), "Chromium");
  EXPECT_EQ(creator("pulse-shm-123456"), "PulseAudio");
  EXPECT_EQ(creator("jack-1000-0"), "JACK");
  EXPECT_EQ(creator("PostgreSQL.1804289383"), "PostgreSQL");
  EXPECT_EQ(creator("actor@4242.sock"), "tractor");
  EXPECT_EQ(creator("registry@1616.sock"), "tractor");
}

TEST(Attribution, UnknownNamesAndBarePrefixes) {
  EXPECT_FALSE(attribute("mysegment"));
  EXPECT_FALSE(attribute("torch_"));  // a prefix alone names nothing
  EXPECT_FALSE(attribute("x.sock"));
  EXPECT_FALSE(attribute("@12.sock"));
  EXPECT_FALSE(attribute("a@12x.sock"));
}

TEST(Attribution, EmbeddedPidsAndTheirLiveness) {
  auto alive = [](pid_t pid) { return pid == 4242; };
  auto a = attribute("torch_4242_1_0", alive);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->pid, 4242);
  EXPECT_EQ(a->alive, true);
  EXPECT_EQ(describe(*a), "likely PyTorch, pid 4242 alive");
  a = attribute("torch_77_1_0", alive);
  EXPECT_EQ(describe(*a), "likely PyTorch, pid 77 gone");
  a = attribute("sem.loky-9-abc", alive);
  EXPECT_EQ(a->pid, 9);
  a = attribute("__KMP_REGISTERED_LIB_31", alive);  // older runtimes: no uid suffix
  EXPECT_EQ(a->pid, 31);
  a = attribute("__KMP_REGISTERED_LIB_31_1000", alive);
  EXPECT_EQ(a->pid, 31);
  a = attribute("actor@4242.sock", alive);
  EXPECT_EQ(a->pid, 4242);
  EXPECT_EQ(describe(*a), "likely tractor, pid 4242 alive");
  a = attribute("psm_abc", alive);  // no pid in this pattern
  EXPECT_FALSE(a->pid);
  EXPECT_EQ(describe(*a), "likely Python multiprocessing");
  a = attribute("torch_99999999999_1_0", alive);  // out of range: no pid claimed
  EXPECT_FALSE(a->pid);
  a = attribute("torch_4242_1_0");  // no liveness oracle: not said
  EXPECT_EQ(describe(*a), "likely PyTorch, pid 4242");
}

}  // namespace
}  // namespace reap::core
