// The file-backed mappings of a process through the PROCMAP_QUERY ioctl on /proc/PID/maps
// (Linux 6.11+): binary answers, no text to render or parse, no path to resolve.
#pragma once

#include <sys/types.h>

#include <memory>
#include <type_traits>

#include "os/proc_parse.hpp"

namespace reap::os {

/// Calls `fn` for each file-backed mapping of the process whose /proc/PID/maps is open as
/// `maps_fd`, skipping repeats of the previous identity (as for_each_maps_file does).
/// Returns 0 when done; ENOTTY or EINVAL when the kernel has no PROCMAP_QUERY (the caller
/// reads the text instead; later calls then fail fast); another errno on failure.
/// (A callback and its context rather than a std::function: it runs once per mapping, tens
/// of thousands of times in a scan.)
int query_file_mappings(int maps_fd, void (*fn)(void* context, const MapsFileRef&), void* context);

/// The same with any callable `fn(const MapsFileRef&)`, called in place.
template <class Fn>
int query_file_mappings(int maps_fd, Fn&& fn) {
  using F = std::remove_reference_t<Fn>;
  auto* f = std::addressof(fn);
  return query_file_mappings(
      maps_fd, [](void* c, const MapsFileRef& r) { (*static_cast<F*>(c))(r); },
      const_cast<void*>(static_cast<const void*>(f)));
}

/// Whether query_file_mappings has found the ioctl missing on this kernel.
bool procmap_query_unsupported();

}  // namespace reap::os
