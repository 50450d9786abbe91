#include "os/shm_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "os/dirent64.hpp"
#include "util/escape.hpp"
#include "util/parallel.hpp"

namespace reap::os {

bool ShmDir::open(const std::string& path, std::string& error) {
  const std::string shown = util::escape_for_terminal(path);
  struct stat lst;
  if (::lstat(path.c_str(), &lst) != 0) {
    error = "--shm-dir " + shown + ": " + std::strerror(errno);
    return false;
  }
  if (S_ISLNK(lst.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    std::string where = n >= 0 ? std::string(target, static_cast<std::size_t>(n)) : "?";
    error = "--shm-dir " + shown + " is a symlink to " + util::escape_for_terminal(where) +
            "; reap follows no symlinks, pass the directory itself";
    return false;
  }
  if (!S_ISDIR(lst.st_mode)) {
    error = "--shm-dir " + shown + ": not a directory";
    return false;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    error = "--shm-dir " + shown + ": " + std::strerror(errno);
    return false;
  }
  fd_.reset(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_dev != lst.st_dev || st.st_ino != lst.st_ino) {
    error = "--shm-dir " + shown + ": changed while it was being opened";
    fd_.reset();
    return false;
  }
  path_ = path;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return true;
}

bool ShmDir::on_memory_fs(std::string& fs) const {
  struct statfs sf;
  if (::fstatfs(fd_.get(), &sf) != 0) {
    fs = std::string("unknown (") + std::strerror(errno) + ")";
    return false;
  }
  switch (static_cast<unsigned long>(sf.f_type)) {
    case TMPFS_MAGIC:
    case RAMFS_MAGIC:
    case HUGETLBFS_MAGIC:
      return true;
    case EXT4_SUPER_MAGIC:  // also ext2/ext3
      fs = "ext4";
      return false;
    case XFS_SUPER_MAGIC:
      fs = "xfs";
      return false;
    case BTRFS_SUPER_MAGIC:
      fs = "btrfs";
      return false;
    case OVERLAYFS_SUPER_MAGIC:
      fs = "overlayfs";
      return false;
    case NFS_SUPER_MAGIC:
      fs = "nfs";
      return false;
    case PROC_SUPER_MAGIC:
      fs = "proc";
      return false;
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "type 0x%lx", static_cast<unsigned long>(sf.f_type));
      fs = hex;
      return false;
    }
  }
}

std::vector<DirEntry> ShmDir::list(unsigned threads) const {
  std::vector<DirEntry> entries;
  // The names first, into one buffer (NUL-terminated, back to back), read with getdents64
  // from the start of the directory: no DirEntry is built, moved or reallocated before the
  // count is known (100,000 entries relocated on every growth of the vector cost more than
  // their lstat on this kind of machine).
  util::UniqueFd dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!dup.valid() || ::lseek(dup.get(), 0, SEEK_SET) < 0) return entries;
  std::string names;
  /// A name's first 8 bytes as a big-endian number (NUL-padded: names hold no NUL), so most
  /// comparisons are one integer compare; `at` is the name's offset in `names`.
  struct Key {
    std::uint64_t head;
    std::size_t at;
  };
  std::vector<Key> starts;
  std::vector<char> buf(1 << 16);
  for (;;) {
    long n = ::syscall(SYS_getdents64, dup.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end, or an error: what was read is the listing (as readdir did)
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const Dirent64*>(buf.data() + off);
      off += d->d_reclen;
      const char* n0 = d->d_name;
      if (n0[0] == '.' && (n0[1] == 0 || (n0[1] == '.' && n0[2] == 0))) continue;
      std::size_t len = std::strlen(n0);
      std::uint64_t head = 0;
      for (std::size_t k = 0; k < 8; ++k)
        head = head << 8 | (k < len ? static_cast<unsigned char>(n0[k]) : 0u);
      starts.push_back({head, names.size()});
      names.append(n0, len + 1);
    }
  }
  std::vector<char>().swap(buf);
  // Sorted by name (bytewise, as std::string compares) before anything else is built.
  std::sort(starts.begin(), starts.end(), [&](const Key& a, const Key& b) {
    if (a.head != b.head) return a.head < b.head;
    // Equal first 8 bytes: a name that ends within them (its 8th byte is the NUL padding)
    // equals the other one.
    if ((a.head & 0xff) == 0) return false;
    return std::strcmp(names.data() + a.at + 8, names.data() + b.at + 8) < 0;
  });
  entries.resize(starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) entries[i].name = names.data() + starts[i].at;
  std::string().swap(names);
  std::vector<Key>().swap(starts);
  // The lstat of each entry is independent: spread it over the threads.
  util::parallel_for(entries.size(), threads, [&](std::size_t i) {
    struct stat st;
    if (::fstatat(fd_.get(), entries[i].name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      entries[i].stat_errno = errno;
    } else {
      entries[i].st = FileStat::of(st);
    }
  });
  std::erase_if(entries, [](const DirEntry& e) { return e.stat_errno == ENOENT; });
  return entries;
}

UnlinkOutcome ShmDir::unlink_if_same(const std::string& name, const DevIno& expected,
                                     mode_t type) const {
  struct stat st;
  if (::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {UnlinkResult::AlreadyGone, 0};
    return {UnlinkResult::Failed, errno};
  }
  if ((st.st_mode & S_IFMT) != type || !(DevIno::of(st) == expected))
    return {UnlinkResult::Replaced, 0};
  if (::unlinkat(fd_.get(), name.c_str(), 0) != 0) {
    if (errno == ENOENT) return {UnlinkResult::AlreadyGone, 0};
    return {UnlinkResult::Failed, errno};
  }
  return {UnlinkResult::Unlinked, 0};
}

}  // namespace reap::os
