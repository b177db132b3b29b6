#include "testing/as_user.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace appkit::testing {
namespace {

bool BecomeUser(User user) {
  return setgroups(0, nullptr) == 0 && setresgid(user.gid, user.gid, user.gid) == 0 &&
         setresuid(user.uid, user.uid, user.uid) == 0;
}

// Waits for our child `pid` with a deadline (killing it after); its exit
// code or -1.
int WaitChild(pid_t pid, absl::Duration timeout) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd exited = {pidfd, POLLIN, 0};
    int ready;
    do {
      ready = poll(&exited, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    } while (ready < 0 && errno == EINTR);
    close(pidfd);
    if (ready == 0) kill(pid, SIGKILL);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int RunAs(User user, const std::function<int()>& body, absl::Duration timeout) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(BecomeUser(user) ? body() : 125);
  return WaitChild(pid, timeout);
}

UserProcess::UserProcess(User user, const std::function<int()>& setup) {
  int ready[2], release[2];
  if (pipe(ready) != 0) return;
  if (pipe(release) != 0) {
    close(ready[0]);
    close(ready[1]);
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    close(ready[0]);
    close(release[1]);
    char result = BecomeUser(user) && setup() == 0 ? 1 : 0;
    (void)!write(ready[1], &result, 1);
    close(ready[1]);
    char byte;
    (void)!read(release[0], &byte, 1);  // EOF when the test lets go
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  release_fd_ = release[1];
  char result = 0;
  if (pid_ > 0 && read(ready[0], &result, 1) == 1) ok_ = result == 1;
  close(ready[0]);
}

UserProcess::~UserProcess() {
  if (release_fd_ >= 0) close(release_fd_);
  if (pid_ > 0 && WaitChild(pid_, absl::Seconds(5)) < 0) kill(pid_, SIGKILL);
}

}  // namespace appkit::testing
