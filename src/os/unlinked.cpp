#include "os/unlinked.hpp"

#include <charconv>

#include "os/proc_parse.hpp"

namespace reap::os {

void for_each_deleted_mapping(std::string_view text,
                              const std::function<void(const DeletedMapping&)>& fn) {
  static constexpr std::string_view kDeleted = " (deleted)";
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.size() < kDeleted.size() || line.substr(line.size() - kDeleted.size()) != kDeleted)
      continue;
    auto ref = parse_maps_line(line);
    if (!ref) continue;
    DeletedMapping m;
    auto dash = line.find('-');
    auto space = line.find(' ');
    if (dash == std::string_view::npos || space == std::string_view::npos || dash > space) continue;
    auto a = std::from_chars(line.data(), line.data() + dash, m.start, 16);
    auto b = std::from_chars(line.data() + dash + 1, line.data() + space, m.end, 16);
    if (a.ec != std::errc{} || b.ec != std::errc{} || m.end < m.start) continue;
    m.dev = ref->dev;
    m.ino = ref->ino;
    fn(m);
  }
}

}  // namespace reap::os
