// Files that were unlinked while still open or mapped (like `lsof +L1`): their memory or
// disk space comes back only when the last holder lets go. The scan (os/proc_scan) finds
// them on the devices it is asked about; this file reads the maps text for the mappings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string_view>

namespace reap::os {

/// One line of /proc/PID/maps whose path ends " (deleted)": the mapped range and the
/// identity the kernel prints (maj:min inode).
struct DeletedMapping {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  dev_t dev = 0;
  ino_t ino = 0;
};

/// Calls `fn` for every file-backed mapping in the maps `text` whose path ends in
/// " (deleted)". (A file really named "x (deleted)" also matches: callers confirm with
/// the link count where they can; the report is a hint, never a verdict.)
void for_each_deleted_mapping(std::string_view text,
                              const std::function<void(const DeletedMapping&)>& fn);

}  // namespace reap::os
