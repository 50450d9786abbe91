// Entry point of the hardening tests: GoogleTest, or a helper mode when re-executed as
// `reap_stress_tests --stress-helper MODE ...` (so helpers can run under setpriv/unshare).
#include <gtest/gtest.h>

#include <cstring>

namespace reap_stress {
int helper_main(int argc, char** argv);
}

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "--stress-helper") == 0)
    return reap_stress::helper_main(argc - 2, argv + 2);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
