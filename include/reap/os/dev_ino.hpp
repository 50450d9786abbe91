// A file's identity: (device, inode). Paths are lossy; this is what reap compares.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>

namespace reap::os {

struct DevIno {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const DevIno&, const DevIno&) = default;
  static DevIno of(const struct stat& st) { return DevIno{st.st_dev, st.st_ino}; }
};

struct DevInoHash {
  std::size_t operator()(const DevIno& d) const noexcept {
    return std::hash<unsigned long long>{}(static_cast<unsigned long long>(d.ino) *
                                               0x9E3779B97F4A7C15ull ^
                                           static_cast<unsigned long long>(d.dev));
  }
};

}  // namespace reap::os
