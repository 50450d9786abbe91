#include "os/sock_diag.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "os/proc_parse.hpp"
#include "util/fd.hpp"

namespace reap::os {
namespace {

/// Walks the rtattrs after a unix_diag_msg and records a UNIX_DIAG_VFS identity.
void take_message(const nlmsghdr* h, DevInoSet& out) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(unix_diag_msg))) return;
  const auto* msg = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
  std::size_t len = h->nlmsg_len - NLMSG_LENGTH(sizeof(*msg));
  const auto* attr = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(msg) +
                                                     NLMSG_ALIGN(sizeof(*msg)));
  for (; RTA_OK(attr, len); attr = RTA_NEXT(attr, len)) {
    if (attr->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(attr) < sizeof(unix_diag_vfs)) continue;
    unix_diag_vfs vfs;
    std::memcpy(&vfs, RTA_DATA(attr), sizeof vfs);
    out.insert(DevIno{kernel_dev_to_dev(vfs.udiag_vfs_dev), vfs.udiag_vfs_ino});
  }
}

/// Records `p` as a process whose namespace could not be queried, with its uids (from the
/// snapshot, else from /proc/PID/status, which stays readable to all).
void add_blocker(NetnsSurvey& survey, const ProcessInfo& p, std::string reason,
                 const std::string& proc_root) {
  NetnsSurvey::Blocker b{p.pid, p.comm, std::move(reason), std::nullopt, p.owner_hint};
  if (p.have_status) {
    b.uids = p.uids;
  } else if (p.pid > 0) {
    std::string text;
    std::string path = proc_root + "/" + std::to_string(p.pid) + "/status";
    if (util::read_file_at(AT_FDCWD, path.c_str(), text) == 0)
      if (auto st = parse_status(text)) b.uids = st->uids;
  }
  survey.blockers.push_back(std::move(b));
}

}  // namespace

dev_t kernel_dev_to_dev(unsigned kdev) {
  return makedev(kdev >> 20, kdev & ((1u << 20) - 1));
}

int bound_unix_files(DevInoSet& out) {
  util::UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd.valid()) return errno;
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } request{};
  request.nlh.nlmsg_len = sizeof request;
  request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.nlh.nlmsg_seq = 1;
  request.req.sdiag_family = AF_UNIX;
  request.req.udiag_states = ~0u;  // every state: listening, bound-only, datagram, ...
  request.req.udiag_show = UDIAG_SHOW_VFS;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &request, sizeof request, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) < 0)
    return errno;
  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    std::size_t len = static_cast<std::size_t>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return e->error ? -e->error : EIO;
      }
      if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) take_message(h, out);
    }
  }
}

int bound_unix_files_in(int nsfd, DevInoSet& out) {
  int result = 0;
  // setns(CLONE_NEWNET) changes only the calling thread; that thread ends with the query.
  std::thread t([&] {
    if (::setns(nsfd, CLONE_NEWNET) != 0) {
      result = errno;
      return;
    }
    result = bound_unix_files(out);
  });
  t.join();
  return result;
}

NetnsSurvey survey_unix_sockets(const Snapshot& snap, const std::string& proc_root) {
  NetnsSurvey survey;
  struct stat self;
  ino_t own_ns = 0;
  if (::stat("/proc/self/ns/net", &self) == 0) own_ns = self.st_ino;
  survey.own_errno = bound_unix_files(survey.bound);
  ++survey.namespaces;
  // Namespace inode -> result of querying it (0 or errno), queried once each.
  std::map<ino_t, int> queried;
  queried[own_ns] = survey.own_errno;
  for (const auto& p : snap.processes) {
    if (p.pid <= 0) {  // stands for processes hidden by hidepid: namespace unknown
      add_blocker(survey, p, "its network namespace is unknown (hidden)", proc_root);
      continue;
    }
    if (p.kernel_thread()) continue;
    std::string path = proc_root + "/" + std::to_string(p.pid) + "/ns/net";
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ESRCH) continue;  // exited
      add_blocker(survey, p,
                  std::string("its network namespace cannot be read: ") + std::strerror(errno),
                  proc_root);
      continue;
    }
    auto [it, fresh] = queried.try_emplace(st.st_ino, 0);
    if (fresh) {
      util::UniqueFd nsfd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      struct stat again;
      if (!nsfd.valid()) {
        it->second = errno;
      } else if (::fstat(nsfd.get(), &again) != 0 || again.st_ino != st.st_ino) {
        it->second = ESRCH;  // the pid moved on to another namespace or was reused
      } else {
        it->second = bound_unix_files_in(nsfd.get(), survey.bound);
        if (!it->second) ++survey.namespaces;
      }
      if (it->second == ENOENT || it->second == ESRCH) {  // exited meanwhile: ask again later
        queried.erase(it);
        continue;
      }
    }
    if (it->second)
      add_blocker(
          survey, p,
          std::string("its network namespace could not be queried: ") + std::strerror(it->second),
          proc_root);
  }
  return survey;
}

}  // namespace reap::os
