#include "os/maps_query.hpp"

#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace reap::os {
namespace {

// From include/uapi/linux/fs.h (Linux 6.11); Debian 12's headers predate it.
struct ProcmapQuery {
  std::uint64_t size;
  std::uint64_t query_flags;
  std::uint64_t query_addr;
  std::uint64_t vma_start;
  std::uint64_t vma_end;
  std::uint64_t vma_flags;
  std::uint64_t vma_page_size;
  std::uint64_t vma_offset;
  std::uint64_t inode;
  std::uint32_t dev_major;
  std::uint32_t dev_minor;
  std::uint32_t vma_name_size;
  std::uint32_t build_id_size;
  std::uint64_t vma_name_addr;
  std::uint64_t build_id_addr;
};
static_assert(sizeof(ProcmapQuery) == 104);
constexpr unsigned long kProcmapQuery = _IOWR('f', 17, ProcmapQuery);
constexpr std::uint64_t kCoveringOrNextVma = 0x10;
constexpr std::uint64_t kFileBackedVma = 0x20;

std::atomic<bool> g_unsupported{false};

}  // namespace

bool procmap_query_unsupported() {
  return g_unsupported.load(std::memory_order_relaxed);
}

int query_file_mappings(int maps_fd, void (*fn)(void* context, const MapsFileRef&), void* context) {
  if (procmap_query_unsupported()) return ENOTTY;
  MapsFileRef last{};
  bool have_last = false;
  for (std::uint64_t addr = 0;;) {
    ProcmapQuery q{};
    q.size = sizeof q;
    q.query_flags = kCoveringOrNextVma | kFileBackedVma;
    q.query_addr = addr;
    if (::ioctl(maps_fd, kProcmapQuery, &q) != 0) {
      if (errno == ENOENT) return 0;  // no mapping at or after addr
      if (errno == ENOTTY || (errno == EINVAL && addr == 0)) g_unsupported = true;
      return errno;
    }
    if (q.inode != 0) {
      MapsFileRef ref{makedev(q.dev_major, q.dev_minor), static_cast<ino_t>(q.inode)};
      if (!have_last || ref.dev != last.dev || ref.ino != last.ino) fn(context, ref);
      last = ref;
      have_last = true;
    }
    if (q.vma_end <= addr) return 0;  // no progress: a kernel bug; stop rather than spin
    addr = q.vma_end;
  }
}

}  // namespace reap::os
