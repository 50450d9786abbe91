#include "os/sysvipc.hpp"

#include <fcntl.h>
#include <sys/shm.h>

#include <cerrno>
#include <charconv>
#include <map>

#include "util/fd.hpp"

namespace reap::os {
namespace {

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

template <class T>
bool number(std::string_view s, T& out, int base = 10) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && end == s.data() + s.size();
}

}  // namespace

std::optional<std::vector<SysvShmSegment>> parse_sysvipc_shm(std::string_view text) {
  auto nl = text.find('\n');
  auto header = fields(text.substr(0, nl));
  std::map<std::string_view, std::size_t> col;
  for (std::size_t i = 0; i < header.size(); ++i) col.emplace(header[i], i);
  for (const char* need : {"key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid", "gid",
                           "cuid", "cgid", "ctime"})
    if (!col.count(need)) return std::nullopt;
  std::vector<SysvShmSegment> out;
  text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  while (!text.empty()) {
    nl = text.find('\n');
    auto f = fields(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (f.size() < header.size()) continue;
    SysvShmSegment s;
    auto at = [&](const char* name) { return f[col[name]]; };
    bool ok = number(at("key"), s.key) && number(at("shmid"), s.shmid) &&
              number(at("perms"), s.mode, 8) && number(at("size"), s.size) &&
              number(at("cpid"), s.cpid) && number(at("lpid"), s.lpid) &&
              number(at("nattch"), s.nattch) && number(at("uid"), s.uid) &&
              number(at("gid"), s.gid) && number(at("cuid"), s.cuid) &&
              number(at("cgid"), s.cgid) && number(at("ctime"), s.ctime);
    if (ok) out.push_back(s);
  }
  return out;
}

int read_sysv_shm(std::vector<SysvShmSegment>& out, const std::string& path) {
  std::string text;
  if (int err = util::read_file_at(AT_FDCWD, path.c_str(), text)) return err;
  auto parsed = parse_sysvipc_shm(text);
  if (!parsed) return EINVAL;
  out = std::move(*parsed);
  return 0;
}

RmidOutcome rmid_if_same(const SysvShmSegment& seg) {
  struct shmid_ds ds {};
  if (::shmctl(seg.shmid, IPC_STAT, &ds) != 0) {
    if (errno == EINVAL || errno == EIDRM) return {RmidResult::AlreadyGone, 0};
    return {RmidResult::Failed, errno};
  }
  if (ds.shm_nattch != 0 || (ds.shm_perm.mode & SHM_DEST) || ds.shm_cpid != seg.cpid ||
      ds.shm_perm.cuid != seg.cuid || static_cast<long long>(ds.shm_ctime) != seg.ctime)
    return {RmidResult::Changed, 0};
  if (::shmctl(seg.shmid, IPC_RMID, nullptr) != 0) {
    if (errno == EINVAL || errno == EIDRM) return {RmidResult::AlreadyGone, 0};
    return {RmidResult::Failed, errno};
  }
  return {RmidResult::Removed, 0};
}

}  // namespace reap::os
