// A fixture base for unit tests that need real files on tmpfs: a private directory
// /dev/shm/reap-test.XXXXXX (mkdtemp, mode 0700), removed with its contents after the test.
// Unit tests touch nothing else in /dev/shm.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace reap {

template <class Base = ::testing::Test>
class InPrivateShmDir : public Base {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/reap-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

}  // namespace reap
