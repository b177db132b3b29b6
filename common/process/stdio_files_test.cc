// OpenStdioFiles and ReopenStdio: "/dev/stdout" and "/dev/stderr" are this
// process's own fds 1 and 2, passed on as open files (a socket too, which
// no open by path could give), and only when spelled exactly so.
#include "common/process/stdio_files.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "testing/temp_dir.h"

namespace appkit {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool SameFile(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Puts `fd` at `target` (1 or 2) for the test's duration, then restores it.
class Redirect {
 public:
  Redirect(int fd, int target) : target_(target), saved_(dup(target)) { dup2(fd, target); }
  ~Redirect() {
    dup2(saved_, target_);
    close(saved_);
  }

 private:
  int target_;
  int saved_;
};

TEST(StdioFilesTest, OnlyTheExactNamesAreTheCallers) {
  EXPECT_TRUE(IsCallerStdio("/dev/stdout"));
  EXPECT_TRUE(IsCallerStdio("/dev/stderr"));
  for (const char* other : {"/dev//stdout", "/dev/./stdout", "/proc/self/fd/1", "/dev/stdout/",
                            "dev/stdout", "/dev/stdin", "/dev/null", ""}) {
    EXPECT_FALSE(IsCallerStdio(other)) << other;
  }
}

TEST(StdioFilesTest, CallersFdsArePassedOnEvenASocket) {
  int out[2], err[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out), 0);
  ASSERT_EQ(pipe2(err, O_CLOEXEC), 0);
  absl::StatusOr<StdioFiles> files;
  {
    Redirect r1(out[1], 1);
    Redirect r2(err[1], 2);
    files = OpenStdioFiles("/dev/stdout", "/dev/stderr");
  }
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE(SameFile(files->out.get(), out[1]));
  EXPECT_TRUE(SameFile(files->err_fd(), err[1]));
  EXPECT_GE(fcntl(files->out.get(), F_GETFD) & FD_CLOEXEC, 1);
  ASSERT_EQ(write(files->out.get(), "o\n", 2), 2);
  ASSERT_EQ(write(files->err_fd(), "e\n", 2), 2);
  char buf[8];
  EXPECT_EQ(read(out[0], buf, sizeof(buf)), 2);
  EXPECT_EQ(read(err[0], buf, sizeof(buf)), 2);
  // Both the same name: one fd for both, as for a file.
  {
    Redirect r1(out[1], 1);
    files = OpenStdioFiles("/dev/stdout", "/dev/stdout");
  }
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_FALSE(files->err);
  EXPECT_TRUE(SameFile(files->err_fd(), out[1]));
  // And crossed: stdout_filename "/dev/stderr" is fd 2.
  {
    Redirect r2(err[1], 2);
    files = OpenStdioFiles("/dev/stderr", "/dev/null");
  }
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE(SameFile(files->out.get(), err[1]));
  for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
}

TEST(StdioFilesTest, OtherSpellingsAreSymlinksAndRefused) {
  for (const char* path : {"/dev//stdout", "/dev/./stderr", "/proc/self/fd/1"}) {
    absl::StatusOr<StdioFiles> files = OpenStdioFiles(path, "/dev/null");
    ASSERT_FALSE(files.ok()) << path;
    EXPECT_TRUE(Has(std::string(files.status().message()), "stdout_filename")) << files.status();
    EXPECT_TRUE(Has(std::string(files.status().message()), path)) << files.status();
    EXPECT_FALSE(CheckStdioFile(path, "stdout_filename").ok()) << path;
  }
  EXPECT_TRUE(CheckStdioFile("/dev/stdout", "stdout_filename").ok());
  EXPECT_TRUE(CheckStdioFile("/dev/stderr", "stderr_filename").ok());
}

TEST(StdioFilesTest, AClosedFdIsAnErrorNamingIt) {
  const int saved = dup(1);
  close(1);
  absl::StatusOr<StdioFiles> files = OpenStdioFiles("/dev/stdout", "/dev/null");
  dup2(saved, 1);
  close(saved);
  ASSERT_FALSE(files.ok());
  EXPECT_TRUE(Has(std::string(files.status().message()), "stdout_filename /dev/stdout"))
      << files.status();
  EXPECT_TRUE(Has(std::string(files.status().message()), "fd 1")) << files.status();
}

TEST(StdioFilesTest, ReopenKeepsThePassedFd) {
  testing::TempDir dir;
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  {
    Redirect r1(out[1], 1);
    Redirect r2(2, 2);  // our stderr back at the end
    const std::string err = dir.File("err.txt");
    absl::Status reopened = ReopenStdio("/dev/stdout", err);
    EXPECT_TRUE(reopened.ok()) << reopened;
    EXPECT_TRUE(SameFile(1, out[1])) << "fd 1 is still the pipe";
    // stderr, a file, was reopened by its name as before.
    UniqueFd file(open(err.c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(SameFile(2, file.get()));
  }
  close(out[0]);
  close(out[1]);
}

}  // namespace
}  // namespace appkit
