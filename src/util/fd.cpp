#include "util/fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace reap::util {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

int read_fd(int fd, std::string& out) {
  out.clear();
  if (out.capacity() < 4096) out.reserve(4096);
  for (;;) {
    std::size_t used = out.size();
    if (out.capacity() - used < 1024) out.reserve(out.capacity() * 2);
    out.resize(out.capacity());
    ssize_t n = ::read(fd, out.data() + used, out.size() - used);
    if (n < 0) {
      out.resize(used);
      if (errno == EINTR) continue;
      return errno;
    }
    out.resize(used + static_cast<std::size_t>(n));
    if (n == 0) return 0;
  }
}

int read_file_at(int dirfd, const char* name, std::string& out) {
  int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    out.clear();
    return errno;
  }
  UniqueFd guard(fd);
  return read_fd(fd, out);
}

}  // namespace reap::util

namespace reap::util {

int read_single_record_at(int dirfd, const char* name, std::string& out) {
  out.clear();
  int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno;
  UniqueFd guard(fd);
  // Most records (stat, status) fit in a small buffer: one read there, then one copy of
  // what was read, instead of zero-filling 16 KiB of `out` before every read.
  char small[4096];
  for (;;) {
    ssize_t n = ::read(fd, small, sizeof small);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    out.assign(small, static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) < sizeof small) return 0;
    break;
  }
  if (out.capacity() < 16384) out.reserve(16384);
  for (;;) {
    std::size_t used = out.size();
    if (out.capacity() - used < 4096) out.reserve(out.capacity() * 2);
    std::size_t room = out.capacity() - used;
    out.resize(out.capacity());
    ssize_t n = ::read(fd, out.data() + used, room);
    if (n < 0) {
      out.resize(used);
      if (errno == EINTR) continue;
      return errno;
    }
    out.resize(used + static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) < room) return 0;
  }
}

}  // namespace reap::util
