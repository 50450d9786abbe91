// Which program likely made a leaked object, from its name alone. A hint for the user's
// eye: it never changes a verdict (liveness and holding come from the kernel's facts).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace reap::core {

struct Attribution {
  std::string creator;        ///< "PyTorch", "Python multiprocessing", ...
  std::optional<pid_t> pid;   ///< a pid the name embeds, when the pattern has one
  std::optional<bool> alive;  ///< whether that pid was alive when asked (filled by attribute)
};

/// The likely creator of the object named `name` (a /dev/shm or /dev/mqueue entry, a
/// socket file or a SysV segment's description), or nullopt for an unknown pattern.
/// `is_alive` answers for an embedded pid (may be empty: `alive` stays unset).
std::optional<Attribution> attribute(std::string_view name,
                                     const std::function<bool(pid_t)>& is_alive = {});

/// "likely PyTorch", "likely PyTorch, pid 4242 gone", "likely tractor, pid 17 alive".
std::string describe(const Attribution& a);

}  // namespace reap::core
