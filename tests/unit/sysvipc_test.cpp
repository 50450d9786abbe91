// os::parse_sysvipc_shm on kernel text, and rmid_if_same against real segments in a private
// IPC namespace (a forked child unshares CLONE_NEWIPC: nothing of the machine's is touched).
#include "os/sysvipc.hpp"

#include <sched.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace reap::os {
namespace {

constexpr const char* kText =
    "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  "
    "cgid      atime      dtime      ctime                   rss                  swap\n"
    "         0          0   600                  4096  6102     0      0     0     0     0     "
    "0          0          0 1795697489                     0                     0\n"
    "1234567890      32769  1666              1048576    17    18      2  1000  1000  1001  "
    "1001 1795697000 1795697001 1795697002                  4096                     0\n"
    "garbage line\n";

TEST(SysvIpc, ParsesColumnsByName) {
  auto segs = parse_sysvipc_shm(kText);
  ASSERT_TRUE(segs);
  ASSERT_EQ(segs->size(), 2u);
  const auto& a = (*segs)[0];
  EXPECT_EQ(a.shmid, 0);
  EXPECT_EQ(a.mode, 0600u);
  EXPECT_EQ(a.cpid, 6102);
  EXPECT_FALSE(a.marked_for_destruction());
  const auto& b = (*segs)[1];
  EXPECT_EQ(b.key, 1234567890);
  EXPECT_EQ(b.shmid, 32769);
  EXPECT_EQ(b.size, 1048576u);
  EXPECT_EQ(b.cpid, 17);
  EXPECT_EQ(b.lpid, 18);
  EXPECT_EQ(b.nattch, 2u);
  EXPECT_EQ(b.uid, 1000u);
  EXPECT_EQ(b.cuid, 1001u);
  EXPECT_EQ(b.ctime, 1795697002);
  EXPECT_TRUE(b.marked_for_destruction());  // 01000 = SHM_DEST
}

TEST(SysvIpc, RefusesAHeaderWithoutTheNeededColumns) {
  EXPECT_FALSE(parse_sysvipc_shm("key shmid perms\n1 2 600\n"));
  EXPECT_TRUE(parse_sysvipc_shm(std::string(kText).substr(0, std::string(kText).find('\n') + 1)));
}

/// Runs `body` in a child in a fresh IPC namespace; the test passes if it exits 0.
template <class Fn>
void in_private_ipc(Fn body) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWIPC) != 0) ::_exit(100);
    ::_exit(body());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step that failed in the child";
}

const SysvShmSegment* find(const std::vector<SysvShmSegment>& segs, int id) {
  for (const auto& s : segs)
    if (s.shmid == id) return &s;
  return nullptr;
}

TEST(SysvIpc, RemovesOnlyTheSegmentItJudged) {
  in_private_ipc([] {
    int unattached = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    int attached = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (unattached < 0 || attached < 0) return 1;
    void* at = ::shmat(attached, nullptr, 0);
    if (at == reinterpret_cast<void*>(-1)) return 2;
    std::vector<SysvShmSegment> segs;
    if (read_sysv_shm(segs) != 0) return 3;
    const auto* u = find(segs, unattached);
    const auto* a = find(segs, attached);
    if (!u || !a || u->nattch != 0 || a->nattch != 1 || u->cpid != ::getpid()) return 4;
    SysvShmSegment stale = *a;
    stale.nattch = 0;  // judged unattached, attached since: the re-check must see it
    if (rmid_if_same(stale).result != RmidResult::Changed) return 5;
    SysvShmSegment other = *u;
    other.ctime -= 1;  // another segment under the same id
    if (rmid_if_same(other).result != RmidResult::Changed) return 6;
    if (rmid_if_same(*u).result != RmidResult::Removed) return 7;
    if (rmid_if_same(*u).result != RmidResult::AlreadyGone) return 8;
    ::shmdt(at);
    ::shmctl(attached, IPC_RMID, nullptr);  // now marked for destruction... and gone
    return 0;
  });
}

TEST(SysvIpc, SeesSegmentsMarkedForDestructionWhileAttached) {
  in_private_ipc([] {
    int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    void* at = ::shmat(id, nullptr, 0);
    if (id < 0 || at == reinterpret_cast<void*>(-1)) return 1;
    if (::shmctl(id, IPC_RMID, nullptr) != 0) return 2;
    std::vector<SysvShmSegment> segs;
    if (read_sysv_shm(segs) != 0) return 3;
    const auto* s = find(segs, id);
    if (!s || !s->marked_for_destruction()) return 4;
    SysvShmSegment judged = *s;
    judged.nattch = 0;
    if (rmid_if_same(judged).result != RmidResult::Changed) return 5;
    ::shmdt(at);
    return 0;
  });
}

}  // namespace
}  // namespace reap::os
