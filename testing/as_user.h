// Acting as another user in tests: the attacker of the attack suites is
// the user `nobody`, in a child process (never the test process itself).
//
//   int rc = testing::RunAs(testing::kNobody, [&] { return symlink(...) == 0 ? 0 : 1; });
//   testing::UserProcess holder(testing::kNobody, [&] { /* take a lock */ return 0; });
//
// Both need root (to switch uid); tests call SkipUnlessRoot() first.
#ifndef APPKIT_TESTING_AS_USER_H_
#define APPKIT_TESTING_AS_USER_H_

#include <sys/types.h>

#include <functional>

#include "absl/time/time.h"

namespace appkit::testing {

struct User {
  uid_t uid;
  gid_t gid;
};
inline constexpr User kNobody = {65534, 65534};

// Runs `body` in a forked child as `user` (groups cleared) and returns its
// exit code (body's return value), or -1 if it could not run or took
// longer than `timeout` (it is killed).
int RunAs(User user, const std::function<int()>& body, absl::Duration timeout = absl::Seconds(10));

// A child process running as `user` that runs `setup` and then stays
// alive (holding what setup opened) until this object is destroyed.
class UserProcess {
 public:
  UserProcess(User user, const std::function<int()>& setup);
  ~UserProcess();
  UserProcess(const UserProcess&) = delete;
  UserProcess& operator=(const UserProcess&) = delete;

  // Whether setup returned 0 (waits until it has run).
  bool ok() const { return ok_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int release_fd_ = -1;
  bool ok_ = false;
};

}  // namespace appkit::testing

#endif  // APPKIT_TESTING_AS_USER_H_
