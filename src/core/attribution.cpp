#include "core/attribution.hpp"

#include <charconv>
#include <climits>

namespace reap::core {
namespace {

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

/// The decimal pid at the start of `s`, ended by `end` (or the end of `s` when end is 0).
std::optional<pid_t> pid_at(std::string_view s, char end) {
  std::size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0 || n > 10) return std::nullopt;
  if (end ? (n >= s.size() || s[n] != end) : n != s.size()) return std::nullopt;
  long long v = 0;
  std::from_chars(s.data(), s.data() + n, v);
  if (v <= 0 || v > INT_MAX) return std::nullopt;
  return static_cast<pid_t>(v);
}

struct Pattern {
  std::string_view prefix;
  std::string_view creator;
  char pid_end;  ///< the pid follows the prefix, ended by this byte; 0: no pid in the name
};

// Order matters where prefixes overlap (none do today).
constexpr Pattern kPatterns[] = {
    {"torch_", "PyTorch", '_'},  // libshm: /torch_<pid>_<rand>_<n>
    {"psm_", "Python multiprocessing", 0},
    {"sem.mp-", "Python multiprocessing", 0},
    {"sem.loky-", "loky/joblib", '-'},  // /loky-<pid>-<rand>
    {"joblib_memmapping_folder_", "loky/joblib", '_'},
    {"joblib_", "loky/joblib", 0},
    {"__KMP_REGISTERED_LIB_", "Intel/LLVM OpenMP", '_'},  // __KMP_REGISTERED_LIB_<pid>[_<uid>]
    {"nccl-", "NCCL/RCCL", 0},
    {"vader_segment.", "Open MPI", 0},
    {"sgl_shm_", "sglang", 0},
    {".org.chromium.", "Chromium", 0},
    {"pulse-shm-", "PulseAudio", 0},
    {"jack-", "JACK", 0},
    {"PostgreSQL.", "PostgreSQL", 0},
};

}  // namespace

std::optional<Attribution> attribute(std::string_view name,
                                     const std::function<bool(pid_t)>& is_alive) {
  std::optional<Attribution> a;
  for (const auto& p : kPatterns) {
    if (!starts_with(name, p.prefix) || name.size() == p.prefix.size()) continue;
    a = Attribution{p.creator, std::nullopt, std::nullopt};
    if (p.pid_end) {
      std::string_view rest = name.substr(p.prefix.size());
      a->pid = pid_at(rest, p.pid_end);
      // __KMP_REGISTERED_LIB_<pid> has no suffix in older runtimes.
      if (!a->pid && p.pid_end == '_' && p.prefix == "__KMP_REGISTERED_LIB_")
        a->pid = pid_at(rest, 0);
    }
    break;
  }
  // tractor: NAME@PID.sock (the registry's fixed registry@1616.sock included).
  if (!a && name.size() > 5 && name.substr(name.size() - 5) == ".sock") {
    auto at = name.rfind('@');
    if (at != std::string_view::npos && at > 0) {
      std::string_view digits = name.substr(at + 1, name.size() - 5 - at - 1);
      if (auto pid = pid_at(digits, 0)) a = Attribution{"tractor", pid, std::nullopt};
    }
  }
  if (a && a->pid && is_alive) a->alive = is_alive(*a->pid);
  return a;
}

std::string describe(const Attribution& a) {
  std::string s = "likely " + std::string(a.creator);
  if (a.pid) {
    s += ", pid " + std::to_string(*a.pid);
    if (a.alive) s += *a.alive ? " alive" : " gone";
  }
  return s;
}

}  // namespace reap::core
