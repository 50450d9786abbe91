#include "os/proc_parse.hpp"

#include <sys/sysmacros.h>

#include <charconv>
#include <cstring>

namespace reap::os {
namespace {

/// Parses an unsigned integer in `base` from the front of `s`, advancing it.
template <class T>
bool take_uint(std::string_view& s, T& out, int base = 10) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  if (ec != std::errc{} || end == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return true;
}

/// Same for a signed integer (stat's ppid of pid 1 is 0; tty_nr may be negative).
template <class T>
bool take_int(std::string_view& s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  if (ec != std::errc{} || end == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(end - s.data()));
  return true;
}

bool blank(char c) {
  return c == ' ' || c == '\t' || c == '\n';
}

/// Next space-separated field of `s`, advancing past it. (A plain loop: find_first_of
/// costs a memchr per byte, and stat has 22 fields to walk for every process.)
std::string_view next_field(std::string_view& s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p != end && blank(*p)) ++p;
  const char* start = p;
  while (p != end && !blank(*p)) ++p;
  s = std::string_view(p, static_cast<std::size_t>(end - p));
  return std::string_view(start, static_cast<std::size_t>(p - start));
}

template <class T>
bool field_uint(std::string_view field, T& out, int base = 10) {
  return take_uint(field, out, base) && field.empty();
}

template <class T>
bool field_int(std::string_view field, T& out) {
  return take_int(field, out) && field.empty();
}

}  // namespace

std::optional<pid_t> parse_pid(std::string_view s) {
  if (s.empty() || s.front() == '0') return std::nullopt;
  pid_t pid = 0;
  if (!field_uint(s, pid) || pid <= 0) return std::nullopt;
  return pid;
}

std::optional<StatFields> parse_stat(std::string_view text) {
  StatFields st;
  auto open = text.find('(');
  // The last ')' (comm may hold any): memrchr, as rfind walks back one byte a call.
  const void* last = text.empty() ? nullptr : ::memrchr(text.data(), ')', text.size());
  auto close = last ? static_cast<std::size_t>(static_cast<const char*>(last) - text.data())
                    : std::string_view::npos;
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  std::string_view head = text.substr(0, open);
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  if (!field_int(head, st.pid)) return std::nullopt;
  st.comm.assign(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  // Fields after comm, numbered as in proc(5): 3 state, 4 ppid, 5 pgrp, 6 session,
  // 7 tty_nr, 8 tpgid, 9 flags, ... 20 num_threads, 21 itrealvalue, 22 starttime.
  std::string_view state = next_field(rest);
  if (state.size() != 1) return std::nullopt;
  st.state = state.front();
  if (!field_int(next_field(rest), st.ppid)) return std::nullopt;
  if (!field_int(next_field(rest), st.pgrp)) return std::nullopt;
  if (!field_int(next_field(rest), st.session)) return std::nullopt;
  long ignored = 0;
  if (!field_int(next_field(rest), ignored)) return std::nullopt;  // 7 tty_nr
  if (!field_int(next_field(rest), ignored)) return std::nullopt;  // 8 tpgid
  if (!field_uint(next_field(rest), st.flags)) return std::nullopt;
  for (int field = 10; field < 20; ++field) next_field(rest);
  if (!field_int(next_field(rest), st.num_threads)) return std::nullopt;
  next_field(rest);  // 21 itrealvalue
  if (!field_uint(next_field(rest), st.starttime)) return std::nullopt;
  return st;
}

std::optional<StatusFields> parse_status(std::string_view text) {
  StatusFields out;
  bool have_uid = false, have_gid = false;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (key == "Uid" || key == "Gid") {
      std::array<unsigned, 4> ids{};
      for (auto& id : ids)
        if (!field_uint(next_field(value), id)) return std::nullopt;
      if (key == "Uid") {
        for (int i = 0; i < 4; ++i) out.uids[i] = ids[i];
        have_uid = true;
      } else {
        for (int i = 0; i < 4; ++i) out.gids[i] = ids[i];
        have_gid = true;
      }
    } else if (key == "Groups") {
      for (;;) {
        std::string_view field = next_field(value);
        if (field.empty()) break;
        gid_t g = 0;
        if (!field_uint(field, g)) return std::nullopt;
        out.groups.push_back(g);
      }
    } else if (key == "SigIgn") {
      if (!field_uint(next_field(value), out.sig_ign, 16)) return std::nullopt;
    } else if (key == "SigBlk") {
      if (!field_uint(next_field(value), out.sig_blk, 16)) return std::nullopt;
    } else if (key == "CapPrm") {
      if (!field_uint(next_field(value), out.cap_prm, 16)) return std::nullopt;
    } else if (key == "Threads") {
      if (!field_int(next_field(value), out.threads)) return std::nullopt;
    }
  }
  if (!have_uid || !have_gid) return std::nullopt;
  return out;
}

std::optional<MapsFileRef> parse_maps_line(std::string_view line) {
  // start-end perms offset maj:min inode [path]
  next_field(line);  // range
  next_field(line);  // perms
  next_field(line);  // offset
  std::string_view dev = next_field(line);
  std::string_view inode = next_field(line);
  auto colon = dev.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned major = 0, minor = 0;
  if (!field_uint(dev.substr(0, colon), major, 16)) return std::nullopt;
  if (!field_uint(dev.substr(colon + 1), minor, 16)) return std::nullopt;
  unsigned long long ino = 0;
  if (!field_uint(inode, ino) || ino == 0) return std::nullopt;
  return MapsFileRef{makedev(major, minor), static_cast<ino_t>(ino)};
}

std::vector<std::string> split_cmdline(std::string_view raw) {
  std::vector<std::string> args;
  if (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
  if (raw.empty()) return args;
  for (;;) {
    auto nul = raw.find('\0');
    args.emplace_back(raw.substr(0, nul));
    if (nul == std::string_view::npos) break;
    raw.remove_prefix(nul + 1);
  }
  return args;
}

FdLink parse_fd_link(std::string_view target) {
  FdLink link;
  auto bracketed = [&](std::string_view prefix, FdLink::Kind kind) {
    if (target.substr(0, prefix.size()) != prefix || target.back() != ']') return false;
    std::string_view digits = target.substr(prefix.size(), target.size() - prefix.size() - 1);
    unsigned long long ino = 0;
    if (!field_uint(digits, ino)) return false;
    link.kind = kind;
    link.inode = ino;
    return true;
  };
  if (target.empty()) return link;
  if (bracketed("socket:[", FdLink::Kind::Socket)) return link;
  if (bracketed("pipe:[", FdLink::Kind::Pipe)) return link;
  if (target.substr(0, 11) == "anon_inode:") {
    link.kind = FdLink::Kind::AnonInode;
    link.path.assign(target.substr(11));
    return link;
  }
  if (target.front() == '/') {
    constexpr std::string_view kDeleted = " (deleted)";
    link.kind = FdLink::Kind::Path;
    if (target.size() > kDeleted.size() &&
        target.substr(target.size() - kDeleted.size()) == kDeleted) {
      link.deleted = true;
      target.remove_suffix(kDeleted.size());
    }
    link.path.assign(target);
    return link;
  }
  link.path.assign(target);
  return link;
}

}  // namespace reap::os
