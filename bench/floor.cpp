// bench_floor: the raw floor of an shm scan, for bench/run.sh.
//
//   bench_floor DIR [--uid UID] [--unlink]
//
// Lists DIR (fstatat each entry), then, single-threaded and with nothing else, reads every
// /proc/PID/maps and fstatats every /proc/PID/fd/N, looking each (dev, ino) up in DIR's
// files. Prints "files=F held=H unheld=U procs=P" on stdout. With --unlink it then unlinks
// the unheld regular files owned by UID (default: all), which is the floor of a real sweep.
// No policy, no reporting, no races handled: a lower bound, not a tool.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

struct Entry {
  std::string name;
  bool held = false;
};

struct Files {
  dev_t dev = 0;
  std::unordered_map<ino_t, size_t> by_ino;
  std::vector<Entry> entries;

  void mark(dev_t d, ino_t ino) {
    if (d != dev) return;
    auto it = by_ino.find(ino);
    if (it != by_ino.end()) entries[it->second].held = true;
  }
};

bool is_pid(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s)
    if (*s < '0' || *s > '9') return false;
  return true;
}

unsigned long parse_hex(std::string_view& s) {
  unsigned long v = 0;
  size_t i = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else
      break;
    v = v * 16 + d;
  }
  s.remove_prefix(i);
  return v;
}

unsigned long parse_dec(std::string_view& s) {
  unsigned long v = 0;
  size_t i = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  s.remove_prefix(i);
  return v;
}

// "start-end perms offset maj:min inode path": skip three fields, parse dev and inode.
void scan_maps_line(std::string_view line, Files& files) {
  for (int field = 0; field < 3; ++field) {
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return;
    line.remove_prefix(sp + 1);
  }
  unsigned long maj = parse_hex(line);
  if (line.empty() || line[0] != ':') return;
  line.remove_prefix(1);
  unsigned long min = parse_hex(line);
  if (line.empty() || line[0] != ' ') return;
  line.remove_prefix(1);
  unsigned long ino = parse_dec(line);
  if (ino == 0) return;
  files.mark(makedev(static_cast<unsigned>(maj), static_cast<unsigned>(min)),
             static_cast<ino_t>(ino));
}

void scan_maps(int procfd, const char* pid, Files& files, std::vector<char>& buf) {
  std::string path = std::string(pid) + "/maps";
  int fd = openat(procfd, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  size_t len = 0;
  for (;;) {
    if (buf.size() - len < 65536) buf.resize(buf.size() * 2);
    ssize_t r = read(fd, buf.data() + len, buf.size() - len);
    if (r <= 0) break;
    len += static_cast<size_t>(r);
  }
  close(fd);
  std::string_view text(buf.data(), len);
  while (!text.empty()) {
    size_t nl = text.find('\n');
    scan_maps_line(text.substr(0, nl), files);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

void scan_fds(int procfd, const char* pid, Files& files) {
  std::string path = std::string(pid) + "/fd";
  int fd = openat(procfd, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    struct stat st {};
    if (fstatat(fd, e->d_name, &st, 0) == 0) files.mark(st.st_dev, st.st_ino);
  }
  closedir(d);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_floor DIR [--uid UID] [--unlink]\n");
    return 2;
  }
  bool do_unlink = false;
  long uid = -1;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--unlink")
      do_unlink = true;
    else if (a == "--uid" && i + 1 < argc)
      uid = std::atol(argv[++i]);
    else {
      std::fprintf(stderr, "bench_floor: bad argument\n");
      return 2;
    }
  }

  Files files;
  int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dirfd < 0) {
    std::perror("bench_floor: open DIR");
    return 2;
  }
  struct stat dst {};
  fstat(dirfd, &dst);
  files.dev = dst.st_dev;
  {
    DIR* d = fdopendir(dup(dirfd));
    if (!d) return 2;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || std::strcmp(e->d_name, "..") == 0))
        continue;
      struct stat st {};
      if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        continue;
      if (uid >= 0 && st.st_uid != static_cast<uid_t>(uid)) continue;
      files.by_ino.emplace(st.st_ino, files.entries.size());
      files.entries.push_back({e->d_name, false});
    }
    closedir(d);
  }

  int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) return 2;
  size_t procs = 0;
  std::vector<char> buf(1 << 16);
  {
    DIR* d = fdopendir(dup(procfd));
    if (!d) return 2;
    while (dirent* e = readdir(d)) {
      if (!is_pid(e->d_name)) continue;
      ++procs;
      scan_maps(procfd, e->d_name, files, buf);
      scan_fds(procfd, e->d_name, files);
    }
    closedir(d);
  }

  size_t held = 0, unlinked = 0;
  for (const auto& e : files.entries) {
    if (e.held) {
      ++held;
    } else if (do_unlink && unlinkat(dirfd, e.name.c_str(), 0) == 0) {
      ++unlinked;
    }
  }
  std::printf("files=%zu held=%zu unheld=%zu procs=%zu unlinked=%zu\n", files.entries.size(), held,
              files.entries.size() - held, procs, unlinked);
  return 0;
}
