// common/base/status_file: the writer's atomic, private snapshots and the
// reader's refusals (SPEC §7 "File safety"). Cases with another user's
// files need root (to chown to nobody) and skip otherwise.
#include "common/base/status_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

using ::appkit::testing::FileExists;

class StatusFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.File(name); }
  testing::TempDir dir_;
};

TEST_F(StatusFileTest, WritesPrivateSnapshotsAndRemovesThemAtTheEnd) {
  const std::string path = Path("d.pid.status");
  {
    auto writer = StatusFileWriter::Create(path, "status file");
    ASSERT_TRUE(writer.ok()) << writer.status();
    // Created empty: no snapshot to read before the first one.
    EXPECT_FALSE(ReadStatusFile(path, geteuid(), "status file").ok());
    ASSERT_TRUE((*writer)->Write("one").ok());
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    auto read = ReadStatusFile(path, geteuid(), "status file");
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, "one");
    ASSERT_TRUE((*writer)->Write("two, longer").ok());
    EXPECT_EQ(*ReadStatusFile(path, geteuid(), "status file"), "two, longer");
    // The same content again: the file (its inode) is left as it is.
    struct stat before, after;
    ASSERT_EQ(stat(path.c_str(), &before), 0);
    ASSERT_TRUE((*writer)->Write("two, longer").ok());
    ASSERT_EQ(stat(path.c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino);
  }
  EXPECT_FALSE(FileExists(path));
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            0);
}

// A reader that meets a write under way (odd sequence number) does not
// take what it read.
TEST_F(StatusFileTest, ReaderNeverTakesASnapshotMidWrite) {
  const std::string path = Path("s");
  auto writer = StatusFileWriter::Create(path, "status file");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("whole").ok());
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const uint64_t odd = 3;
  ASSERT_EQ(pwrite(fd, &odd, sizeof(odd), 0), static_cast<ssize_t>(sizeof(odd)));
  close(fd);
  auto read = ReadStatusFile(path, geteuid(), "status file");
  EXPECT_TRUE(absl::IsUnavailable(read.status())) << read.status();
  ASSERT_TRUE((*writer)->Write("next").ok());
  EXPECT_EQ(*ReadStatusFile(path, geteuid(), "status file"), "next");
}

TEST_F(StatusFileTest, CreateRefusesASymlinkOrFifoAtThePath) {
  ASSERT_EQ(symlink("/etc/passwd", Path("link").c_str()), 0);
  auto link = StatusFileWriter::Create(Path("link"), "status file");
  ASSERT_FALSE(link.ok());
  EXPECT_TRUE(absl::StrContains(link.status().message(), "symbolic link")) << link.status();
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);
  auto fifo = StatusFileWriter::Create(Path("fifo"), "status file");
  ASSERT_FALSE(fifo.ok());
  EXPECT_TRUE(absl::StrContains(fifo.status().message(), "FIFO")) << fifo.status();
}

TEST_F(StatusFileTest, CreateRefusesADirectoryOthersMayWrite) {
  ASSERT_EQ(mkdir(Path("open").c_str(), 0777), 0);
  ASSERT_EQ(chmod(Path("open").c_str(), 0777), 0);
  auto writer = StatusFileWriter::Create(Path("open") + "/d.status", "status file");
  ASSERT_FALSE(writer.ok());
  EXPECT_TRUE(absl::StrContains(writer.status().message(), Path("open"))) << writer.status();
}

TEST_F(StatusFileTest, ReaderSaysNotFoundWhenThereIsNone) {
  auto read = ReadStatusFile(Path("none"), geteuid(), "status file");
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
}

TEST_F(StatusFileTest, ReaderRefusesSymlinkFifoAndDirectory) {
  const std::string real = Path("real");
  auto writer = StatusFileWriter::Create(real, "status file");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("x").ok());
  ASSERT_EQ(symlink(real.c_str(), Path("link").c_str()), 0);
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);
  ASSERT_EQ(mkdir(Path("dir").c_str(), 0700), 0);
  for (const char* name : {"link", "fifo", "dir"}) {
    auto read = ReadStatusFile(Path(name), geteuid(), "status file");
    EXPECT_FALSE(read.ok()) << name;
    EXPECT_TRUE(absl::StrContains(read.status().message(), Path(name))) << read.status();
  }
}

TEST_F(StatusFileTest, ReaderRefusesOpenModeHardLinksAndAnotherOwner) {
  const std::string path = Path("s");
  auto writer = StatusFileWriter::Create(path, "status file");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("x").ok());

  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  auto open_mode = ReadStatusFile(path, geteuid(), "status file");
  ASSERT_FALSE(open_mode.ok());
  EXPECT_TRUE(absl::StrContains(open_mode.status().message(), "0644")) << open_mode.status();
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);

  ASSERT_EQ(link(path.c_str(), Path("second").c_str()), 0);
  auto linked = ReadStatusFile(path, geteuid(), "status file");
  ASSERT_FALSE(linked.ok());
  EXPECT_TRUE(absl::StrContains(linked.status().message(), "hard links")) << linked.status();
  ASSERT_EQ(unlink(Path("second").c_str()), 0);

  // A file of another user than the daemon's.
  auto other = ReadStatusFile(path, geteuid() + 1, "status file");
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(absl::StrContains(other.status().message(), "owned by uid")) << other.status();

  EXPECT_TRUE(ReadStatusFile(path, geteuid(), "status file").ok());
}

}  // namespace
}  // namespace appkit
