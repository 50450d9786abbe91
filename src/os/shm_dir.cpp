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

std::string_view NameList::operator[](std::size_t i) const {
  const Block& b = blocks_[i / kBlock];
  const std::size_t k = i % kBlock;
  const std::uint32_t at = b.starts[k];
  const std::size_t next = k + 1 < b.starts.size() ? b.starts[k + 1] : b.bytes.size();
  return {b.bytes.data() + at, next - at - 1};
}

void NameList::release_before(std::size_t i) {
  for (std::size_t k = 0; k < blocks_.size() && (k + 1) * kBlock <= i; ++k) {
    std::string().swap(blocks_[k].bytes);
    std::vector<std::uint32_t>().swap(blocks_[k].starts);
  }
}

void NameList::push_back(std::string_view name) {
  if (size_ % kBlock == 0) {
    blocks_.emplace_back();
    blocks_.back().starts.reserve(kBlock);
  }
  Block& b = blocks_.back();
  b.starts.push_back(static_cast<std::uint32_t>(b.bytes.size()));
  b.bytes.append(name);
  b.bytes.push_back('\0');
  ++size_;
}

NameList ShmDir::list_names() const {
  NameList out;
  // The names first, into one buffer (NUL-terminated, back to back), read with getdents64
  // from the start of the directory: nothing per name is built or moved before the count
  // is known and the order decided.
  util::UniqueFd dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!dup.valid() || ::lseek(dup.get(), 0, SEEK_SET) < 0) return out;
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
  // Sorted by name (bytewise, as std::string compares).
  std::sort(starts.begin(), starts.end(), [&](const Key& a, const Key& b) {
    if (a.head != b.head) return a.head < b.head;
    // Equal first 8 bytes: a name that ends within them (its 8th byte is the NUL padding)
    // equals the other one.
    if ((a.head & 0xff) == 0) return false;
    return std::strcmp(names.data() + a.at + 8, names.data() + b.at + 8) < 0;
  });
  for (const Key& k : starts) out.push_back(names.data() + k.at);
  return out;
}

std::vector<DirEntry> ShmDir::list(unsigned threads) const {
  return lstat_all(list_names(), threads);
}

std::vector<DirEntry> ShmDir::lstat_all(NameList names, unsigned threads) const {
  std::vector<DirEntry> entries(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) entries[i].name = names[i];
  names = NameList();
  // The lstat of each entry is independent: spread it over the threads.
  util::parallel_for(entries.size(), threads, [&](std::size_t i) {
    entries[i].stat_errno = stat_at(entries[i].name.c_str(), entries[i].st);
  });
  std::erase_if(entries, [](const DirEntry& e) { return e.stat_errno == ENOENT; });
  return entries;
}

int ShmDir::stat_at(const char* name, FileStat& out) const {
  struct stat st;
  if (::fstatat(fd_.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  out = FileStat::of(st);
  return 0;
}

UnlinkOutcome ShmDir::unlink_judged(const char* name) const {
  if (::unlinkat(fd_.get(), name, 0) != 0) {
    if (errno == ENOENT) return {UnlinkResult::AlreadyGone, 0};
    return {UnlinkResult::Failed, errno};
  }
  return {UnlinkResult::Unlinked, 0};
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
