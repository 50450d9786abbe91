// The record that the getdents64 syscall writes (struct linux_dirent64; glibc has no
// declaration of it). Read through a pointer into the buffer: records are d_reclen apart.
#pragma once

#include <sys/types.h>

namespace reap::os {

struct Dirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];  ///< NUL-terminated, d_reclen bounds it
};

}  // namespace reap::os
