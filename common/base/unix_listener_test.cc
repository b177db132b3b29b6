// ListenUnixSocket with real sockets in a temp dir: the mode, a client
// connecting before anyone accepts, a stale socket replaced, a live one and
// a non-socket refused untouched, UnlinkIfOurs leaving a replaced file.
#include "common/base/unix_listener.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using appkit::testing::TempDir;

// A blocking connect to `path`: 0, or the errno.
int Connect(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  return connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0 : errno;
}

TEST(UnixListenerTest, ListensAt0600AndClientsConnectBeforeAnyAccept) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  absl::StatusOr<UnixListener> listener = ListenUnixSocket(path);
  ASSERT_TRUE(listener.ok()) << listener.status();
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_ino, listener->ino);
  EXPECT_EQ(Connect(path), 0) << "a client waits in the backlog";
  UnlinkIfOurs(path, *listener);
  EXPECT_NE(lstat(path.c_str(), &st), 0);
}

TEST(UnixListenerTest, AStaleSocketIsReplacedALiveOneRefusedNamingItsServer) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  {
    absl::StatusOr<UnixListener> dead = ListenUnixSocket(path);
    ASSERT_TRUE(dead.ok());
  }  // closed, its file left: stale
  absl::StatusOr<UnixListener> live = ListenUnixSocket(path);
  ASSERT_TRUE(live.ok()) << live.status();
  absl::StatusOr<UnixListener> second = ListenUnixSocket(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find("is in use: process " + std::to_string(getpid())),
            std::string::npos)
      << second.status();
  EXPECT_EQ(Connect(path), 0) << "the live socket was touched";
}

TEST(UnixListenerTest, ANonSocketAtThePathIsRefusedAndKept) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  std::ofstream(path) << "mine";
  absl::StatusOr<UnixListener> listener = ListenUnixSocket(path);
  ASSERT_FALSE(listener.ok());
  EXPECT_NE(listener.status().message().find(path + " exists and is not a socket"),
            std::string::npos)
      << listener.status();
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(UnixListenerTest, UnlinkIfOursLeavesAFilePutThereSince) {
  TempDir dir;
  const std::string path = dir.File("c.sock");
  absl::StatusOr<UnixListener> listener = ListenUnixSocket(path);
  ASSERT_TRUE(listener.ok());
  ASSERT_EQ(unlink(path.c_str()), 0);
  std::ofstream(path) << "someone else's";
  UnlinkIfOurs(path, *listener);
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << "another file was removed";
}

TEST(UnixListenerTest, ATooLongPathIsRefused) {
  TempDir dir;
  absl::StatusOr<UnixListener> listener = ListenUnixSocket(dir.File(std::string(120, 'x')));
  ASSERT_FALSE(listener.ok());
  EXPECT_NE(listener.status().message().find("control socket path"), std::string::npos)
      << listener.status();
}

}  // namespace
}  // namespace appkit
