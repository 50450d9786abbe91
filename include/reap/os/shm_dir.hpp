// The sweep directory, held open by fd: every lookup and unlink is relative to that fd so
// a rename of the directory path mid-run cannot redirect reap elsewhere.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "os/dev_ino.hpp"
#include "util/fd.hpp"

namespace reap::os {

/// The part of an lstat result that the sweep uses (half of struct stat: a sweep may
/// hold 100,000 of these). Member names follow struct stat.
struct FileStat {
  dev_t st_dev = 0;
  ino_t st_ino = 0;
  mode_t st_mode = 0;
  uid_t st_uid = 0;
  gid_t st_gid = 0;
  off_t st_size = 0;
  struct timespec st_mtim {};
  struct timespec st_ctim {};
  static FileStat of(const struct stat& st) {
    return {st.st_dev, st.st_ino,  st.st_mode, st.st_uid,
            st.st_gid, st.st_size, st.st_mtim, st.st_ctim};
  }
};

inline DevIno identity(const FileStat& st) {
  return DevIno{st.st_dev, st.st_ino};
}

struct DirEntry {
  std::string name;    ///< raw bytes, as in the directory
  FileStat st;         ///< lstat of the entry (symlinks are not followed)
  int stat_errno = 0;  ///< nonzero when lstat failed (entry vanished: left out instead)
};

/// A directory's entry names, sorted bytewise, stored compactly: one byte buffer per block
/// of names and a 4-byte offset per name (a sweep of 1,000,000 names keeps about 16 bytes a
/// name). Blocks can be let go from the front as a sweep works through them.
class NameList {
 public:
  static constexpr std::size_t kBlock = 16384;  ///< names per block

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// The i-th name, NUL-terminated (valid until its block is released).
  const char* c_str(std::size_t i) const {
    const Block& b = blocks_[i / kBlock];
    return b.bytes.data() + b.starts[i % kBlock];
  }
  std::string_view operator[](std::size_t i) const;
  /// Frees every block whose names all come before `i` (they may not be read again).
  void release_before(std::size_t i);
  void push_back(std::string_view name);  ///< appends (the caller keeps the order)

 private:
  struct Block {
    std::string bytes;  ///< names, each followed by a NUL
    std::vector<std::uint32_t> starts;
  };
  std::vector<Block> blocks_;
  std::size_t size_ = 0;
};

enum class UnlinkResult {
  Unlinked,     ///< removed
  AlreadyGone,  ///< ENOENT at re-check or unlink: counts as done
  Replaced,     ///< the name now refers to another file: left alone
  Failed,       ///< unlinkat failed; `err` says why
};

struct UnlinkOutcome {
  UnlinkResult result = UnlinkResult::Failed;
  int err = 0;
};

class ShmDir {
 public:
  /// Opens `path` as the sweep directory. Refuses (returns false, `error` set to one line
  /// naming the path and the reason) a missing path, a non-directory, or a symlink (saying
  /// where it points): a sweep follows no symlink, not even at its root.
  bool open(const std::string& path, std::string& error);

  /// True when the open directory is on a memory filesystem (tmpfs, ramfs, hugetlbfs), the
  /// only kind where POSIX shm segments live; else false with `fs` naming what it is
  /// ("ext4", or the statfs magic in hex). A sweep elsewhere could delete ordinary files.
  bool on_memory_fs(std::string& fs) const;

  /// The names of every entry except "." and "..", sorted bytewise, without lstat: a large
  /// sweep judges each entry from one lstat made later, right before its unlink.
  NameList list_names() const;

  /// Every entry except "." and "..", each lstat'ed relative to the directory fd, sorted
  /// by name (bytewise).
  /// Entries that vanish between listing and lstat are left out. `threads`: lstat calls
  /// may run on that many threads.
  std::vector<DirEntry> list(unsigned threads = 1) const;
  /// The entries of `names` (from list_names), lstat'ed as list() does.
  std::vector<DirEntry> lstat_all(NameList names, unsigned threads = 1) const;

  /// Unlinks `name` only if it is still a file of `type` (S_IFREG, or S_IFSOCK for the
  /// socket sweep) with identity `expected` (fstatat AT_SYMLINK_NOFOLLOW just before
  /// unlinkat). ENOENT counts as done.
  UnlinkOutcome unlink_if_same(const std::string& name, const DevIno& expected,
                               mode_t type = S_IFREG) const;

  /// lstat of `name` relative to the directory fd: 0, or the errno.
  int stat_at(const char* name, FileStat& out) const;

  /// Unlinks `name` with no re-check of its own: only for a name whose lstat (stat_at) was
  /// judged just before, in the same pass (that lstat is the re-check). ENOENT counts as
  /// done.
  UnlinkOutcome unlink_judged(const char* name) const;

  const std::string& path() const { return path_; }
  dev_t dev() const { return dev_; }
  ino_t ino() const { return ino_; }

 private:
  util::UniqueFd fd_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace reap::os
