// SysV shared memory as the kernel lists it (/proc/sysvipc/shm), and removal by IPC_RMID
// after re-checking that the segment is still the one that was judged.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reap::os {

struct SysvShmSegment {
  long long key = 0;
  int shmid = -1;
  unsigned mode = 0;  ///< permission bits plus SHM_DEST (01000) and SHM_LOCKED (02000)
  unsigned long long size = 0;
  pid_t cpid = 0;  ///< creator
  pid_t lpid = 0;  ///< last shmat/shmdt
  unsigned long nattch = 0;
  uid_t uid = 0;  ///< owner
  gid_t gid = 0;
  uid_t cuid = 0;  ///< creator's uid
  gid_t cgid = 0;
  long long ctime = 0;  ///< last change (creation or IPC_SET), seconds since the epoch
  bool marked_for_destruction() const { return (mode & 01000) != 0; }
};

/// Parses the text of /proc/sysvipc/shm (a header line naming the columns, then one line
/// per segment). Columns are found by name, so a kernel that adds columns still parses.
/// Returns nullopt when the header lacks a needed column; malformed lines are skipped.
std::optional<std::vector<SysvShmSegment>> parse_sysvipc_shm(std::string_view text);

/// Reads and parses `path`. Returns 0 or an errno (EINVAL for an unparseable header).
int read_sysv_shm(std::vector<SysvShmSegment>& out, const std::string& path = "/proc/sysvipc/shm");

enum class RmidResult {
  Removed,      ///< IPC_RMID done
  AlreadyGone,  ///< EINVAL/EIDRM at re-check or removal: counts as done
  Changed,      ///< now attached, marked, or another segment under this id: left alone
  Failed,       ///< shmctl failed; `err` says why
};

struct RmidOutcome {
  RmidResult result = RmidResult::Failed;
  int err = 0;
};

/// IPC_STAT `seg.shmid` and, only if it is still unattached, not marked, and has the same
/// creator pid, creator uid and ctime as `seg`, IPC_RMID it.
RmidOutcome rmid_if_same(const SysvShmSegment& seg);

}  // namespace reap::os
