// The sweep directory, held open by fd: every lookup and unlink is relative to that fd so
// a rename of the directory path mid-run cannot redirect reap elsewhere.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

#include "os/dev_ino.hpp"
#include "util/fd.hpp"

namespace reap::os {

struct DirEntry {
  std::string name;    ///< raw bytes, as in the directory
  struct stat st {};   ///< lstat of the entry (symlinks are not followed)
  int stat_errno = 0;  ///< nonzero when lstat failed (entry vanished: left out instead)
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

  /// Every entry except "." and "..", each lstat'ed relative to the directory fd, sorted
  /// by name (bytewise).
  /// Entries that vanish between listing and lstat are left out.
  std::vector<DirEntry> list() const;

  /// Unlinks `name` only if it is still a regular file with identity `expected`
  /// (fstatat AT_SYMLINK_NOFOLLOW just before unlinkat). ENOENT counts as done.
  UnlinkOutcome unlink_if_same(const std::string& name, const DevIno& expected) const;

  const std::string& path() const { return path_; }
  dev_t dev() const { return dev_; }

 private:
  util::UniqueFd fd_;
  std::string path_;
  dev_t dev_ = 0;
};

}  // namespace reap::os
