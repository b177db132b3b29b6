// common/safe_file: what a shared directory may hold, refused before a
// byte is written (SPEC §7 "File safety"). Cases with another user's files
// need root (to chown to nobody) and skip otherwise.
#include "common/base/safe_file.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "common/base/fd_io.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;
using ::appkit::testing::ReadFileOrEmpty;

#define SKIP_UNLESS_ROOT() \
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create files owned by another user"

class SafeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    victim_ = dir_.File("victim");
    int fd = open(victim_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, "precious\n").ok());
    close(fd);
  }

  // The victim file is untouched: same content, same mode.
  void ExpectVictimIntact() {
    EXPECT_EQ(ReadFileOrEmpty(victim_), "precious\n");
    struct stat st;
    ASSERT_EQ(stat(victim_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }

  std::string Path(const std::string& name) { return dir_.File(name); }

  testing::TempDir dir_;
  std::string victim_;
};

TEST_F(SafeFileTest, OwnDirectoriesAndStickyTmpAreTrusted) {
  EXPECT_TRUE(CheckTrustedDirectory(dir_.path(), "test").ok());
  EXPECT_TRUE(CheckTrustedDirectory("/tmp", "test").ok());
  ASSERT_EQ(mkdir(Path("sticky").c_str(), 0777), 0);
  ASSERT_EQ(chmod(Path("sticky").c_str(), 01777), 0);
  EXPECT_TRUE(CheckTrustedDirectory(Path("sticky"), "test").ok());
}

TEST_F(SafeFileTest, WorldWritableDirectoryWithoutStickyBitIsRefused) {
  ASSERT_EQ(mkdir(Path("open").c_str(), 0777), 0);
  ASSERT_EQ(chmod(Path("open").c_str(), 0777), 0);
  absl::Status status = CheckTrustedDirectory(Path("open"), "pid file x");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), Path("open"))) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "writable by everyone")) << status;
  // A file below it is refused for the same reason.
  EXPECT_FALSE(OpenOutputFile(Path("open/log"), "log file").ok());
  EXPECT_FALSE(FileExists(Path("open/log")));
}

TEST_F(SafeFileTest, GroupWritableDirectoryOfAnotherGroupIsRefused) {
  ASSERT_EQ(mkdir(Path("group").c_str(), 0775), 0);
  ASSERT_EQ(chmod(Path("group").c_str(), 0775), 0);
  if (getegid() != 65534) {
    SKIP_UNLESS_ROOT();
    ASSERT_EQ(chown(Path("group").c_str(), geteuid(), 65534), 0);
  }
  absl::Status status = CheckTrustedDirectory(Path("group"), "log file");
  EXPECT_TRUE(absl::StrContains(status.message(), "writable by group")) << status;
}

TEST_F(SafeFileTest, DirectoryOwnedByAnotherUserIsRefused) {
  SKIP_UNLESS_ROOT();
  ASSERT_EQ(mkdir(Path("theirs").c_str(), 0755), 0);
  ASSERT_EQ(chown(Path("theirs").c_str(), 65534, 65534), 0);
  ASSERT_EQ(mkdir(Path("theirs/mine").c_str(), 0755), 0);
  absl::Status status = CheckTrustedDirectory(Path("theirs/mine"), "pid file y");
  EXPECT_FALSE(status.ok());
  // The culprit is the directory above, which its owner could rename.
  EXPECT_TRUE(absl::StrContains(status.message(), Path("theirs") + " ")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "uid 65534")) << status;
}

TEST_F(SafeFileTest, SymlinkOwnedByAnotherUserIsNotFollowed) {
  SKIP_UNLESS_ROOT();
  ASSERT_EQ(mkdir(Path("real").c_str(), 0755), 0);
  ASSERT_EQ(symlink(Path("real").c_str(), Path("theirs").c_str()), 0);
  ASSERT_EQ(lchown(Path("theirs").c_str(), 65534, 65534), 0);
  absl::Status status = CheckTrustedDirectory(Path("theirs"), "state directory");
  EXPECT_TRUE(absl::StrContains(status.message(), "symbolic link owned by uid 65534")) << status;
  // One of our own (like /var/run -> /run) is followed.
  ASSERT_EQ(symlink(Path("real").c_str(), Path("ours").c_str()), 0);
  EXPECT_TRUE(CheckTrustedDirectory(Path("ours"), "state directory").ok());
  EXPECT_TRUE(OpenOutputFile(Path("ours/log"), "log file").ok());
  EXPECT_TRUE(FileExists(Path("real/log")));
}

TEST_F(SafeFileTest, MissingDirectoryIsNamed) {
  absl::Status status = CheckOutputFile(Path("nowhere/out.txt"), "stdout_filename");
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), Path("nowhere"))) << status;
}

TEST_F(SafeFileTest, SymlinkAtTheFileIsRefusedAndItsTargetUntouched) {
  ASSERT_EQ(symlink(victim_.c_str(), Path("log").c_str()), 0);
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(Path("log"), "log file");
  ASSERT_FALSE(fd.ok());
  EXPECT_TRUE(absl::StrContains(fd.status().message(), Path("log") + " is a symbolic link"))
      << fd.status();
  EXPECT_FALSE(CheckOutputFile(Path("log"), "log file").ok());
  ExpectVictimIntact();
}

TEST_F(SafeFileTest, DanglingSymlinkIsRefusedAndNothingIsCreated) {
  ASSERT_EQ(symlink(Path("created-through-link").c_str(), Path("log").c_str()), 0);
  EXPECT_FALSE(OpenOutputFile(Path("log"), "log file").ok());
  EXPECT_FALSE(FileExists(Path("created-through-link")));
}

TEST_F(SafeFileTest, FifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0666), 0);
  // No reader: a blocking open would hang here forever.
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(Path("fifo"), "stdout_filename");
  ASSERT_FALSE(fd.ok());
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "is a FIFO")) << fd.status();
  // With a reader present it is refused too (after the open, by fstat).
  int reader = open(Path("fifo").c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  fd = OpenOutputFile(Path("fifo"), "stdout_filename");
  EXPECT_FALSE(fd.ok());
  close(reader);
  absl::StatusOr<UniqueFd> read = OpenFileForReading(Path("fifo"), "pid file");
  EXPECT_FALSE(read.ok());
  EXPECT_TRUE(absl::StrContains(read.status().message(), "is a FIFO")) << read.status();
  EXPECT_FALSE(CheckOutputFile(Path("fifo"), "stdout_filename").ok());
}

TEST_F(SafeFileTest, SocketAndDirectoryAreRefused) {
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", Path("sock").c_str());
  ASSERT_EQ(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_FALSE(OpenOutputFile(Path("sock"), "log file").ok());
  close(sock);
  ASSERT_EQ(mkdir(Path("dir").c_str(), 0755), 0);
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(Path("dir"), "log file");
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "is a directory")) << fd.status();
}

TEST_F(SafeFileTest, HardLinkToAnotherFileIsRefused) {
  ASSERT_EQ(link(victim_.c_str(), Path("log").c_str()), 0);
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(Path("log"), "log file");
  ASSERT_FALSE(fd.ok());
  EXPECT_TRUE(absl::StrContains(fd.status().message(), "2 hard links")) << fd.status();
  ExpectVictimIntact();
}

TEST_F(SafeFileTest, FileOwnedByAnotherUserIsRefused) {
  SKIP_UNLESS_ROOT();
  int fd = open(Path("log").c_str(), O_WRONLY | O_CREAT, 0666);
  close(fd);
  ASSERT_EQ(chown(Path("log").c_str(), 65534, 65534), 0);
  absl::StatusOr<UniqueFd> opened = OpenOutputFile(Path("log"), "log file");
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(absl::StrContains(opened.status().message(), "owned by uid 65534"))
      << opened.status();
}

TEST_F(SafeFileTest, NewFilesAreAppendedAndTheDefaultDeviceIsUsed) {
  const mode_t old_umask = umask(0);
  absl::StatusOr<UniqueFd> fd = OpenOutputFile(Path("new.log"), "log file");
  umask(old_umask);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ASSERT_TRUE(WriteAll(fd->get(), "one\n").ok());
  fd = OpenOutputFile(Path("new.log"), "log file");
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(WriteAll(fd->get(), "two\n").ok());
  EXPECT_EQ(ReadFileOrEmpty(Path("new.log")), "one\ntwo\n");
  struct stat st;
  ASSERT_EQ(stat(Path("new.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_TRUE(OpenOutputFile("/dev/null", "stdout_filename").ok());
  EXPECT_TRUE(CheckOutputFile("/dev/null", "stdout_filename").ok());
}

TEST_F(SafeFileTest, AtomicWriteReplacesAndLeavesNoTemporary) {
  ASSERT_TRUE(WriteFileAtomically(Path("debug.json"), "{}", "debug file").ok());
  ASSERT_TRUE(WriteFileAtomically(Path("debug.json"), "{\"a\": 1}", "debug file").ok());
  EXPECT_EQ(ReadFileOrEmpty(Path("debug.json")), "{\"a\": 1}");
  int entries = 0;
  for (const char* name : {"debug.json", "victim"}) entries += FileExists(Path(name));
  EXPECT_EQ(entries, 2);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            2);
}

TEST_F(SafeFileTest, AtomicWriteRefusesASymlinkOrFifoAtTheTarget) {
  ASSERT_EQ(symlink(victim_.c_str(), Path("debug.json").c_str()), 0);
  absl::Status status = WriteFileAtomically(Path("debug.json"), "{}", "debug file");
  EXPECT_TRUE(absl::StrContains(status.message(), Path("debug.json") + " is a symbolic link"))
      << status;
  ExpectVictimIntact();
  ASSERT_EQ(mkfifo(Path("fifo.json").c_str(), 0666), 0);
  status = WriteFileAtomically(Path("fifo.json"), "{}", "debug file");
  EXPECT_TRUE(absl::StrContains(status.message(), "is a FIFO")) << status;
}

}  // namespace
}  // namespace appkit
