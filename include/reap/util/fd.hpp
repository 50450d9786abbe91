// RAII file descriptor and small read helpers used by the /proc and directory code.
#pragma once

#include <string>
#include <utility>

namespace reap::util {

/// Owns one file descriptor; closes it on destruction. -1 means "none".
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// Reads the whole file `name` relative to `dirfd` into `out` (replacing its contents),
/// reusing its capacity. Returns 0 on success or the errno of the failing call.
/// EINTR is retried; a short file is fine (proc files report size 0).
int read_file_at(int dirfd, const char* name, std::string& out);

/// Same for an already open fd, read from its current offset to EOF.
int read_fd(int fd, std::string& out);

/// Like read_file_at, for /proc files that the kernel renders as one seq_file record
/// (single_open: PID/stat, PID/status, PID/comm): the whole record is made before the first
/// read returns, so a read that does not fill the buffer is the end, and the read that
/// would return 0 is saved. Not for multi-record files such as maps, whose reads stop at
/// each page of records.
int read_single_record_at(int dirfd, const char* name, std::string& out);

}  // namespace reap::util
