// common/host/supervisor_report: the frames on the executor's pipe, decoded
// whole or in pieces, and the cap on error texts.
#include "common/host/supervisor_report.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "proto/wire.h"

namespace appkit::internal {
namespace {

std::string ReadAll(int fd) {
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

TEST(SupervisorReportTest, FramesWrittenOnThePipeAreDecodedEvenInPieces) {
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  SetSupervisorPipe(ends[1]);
  ReportStopBudget(absl::Milliseconds(13000));
  ReportEntryError("UNAVAILABLE: database refused");
  SetSupervisorPipe(-1);
  ReportEntryError("not written: no pipe");
  close(ends[1]);
  const std::string bytes = ReadAll(ends[0]);
  close(ends[0]);

  SupervisorReport whole;
  std::string buffer = bytes;
  DecodeReports(buffer, whole);
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(whole.stop_budget, absl::Milliseconds(13000));
  EXPECT_EQ(whole.error, "UNAVAILABLE: database refused");

  // One byte at a time: nothing is decoded before its frame is whole.
  SupervisorReport pieces;
  buffer.clear();
  for (char c : bytes) {
    buffer.push_back(c);
    DecodeReports(buffer, pieces);
  }
  EXPECT_EQ(pieces.stop_budget, absl::Milliseconds(13000));
  EXPECT_EQ(pieces.error, "UNAVAILABLE: database refused");
}

TEST(SupervisorReportTest, ErrorsAreCappedAtAUtf8Boundary) {
  EXPECT_EQ(CapError("short"), "short");
  const std::string long_text(5000, 'x');
  EXPECT_EQ(CapError(long_text).size(), kMaxErrorBytes);
  std::string accents;
  while (accents.size() < 5000) accents += "\xc3\xa9";  // é
  const std::string capped = CapError(accents);
  EXPECT_LE(capped.size(), kMaxErrorBytes);
  EXPECT_EQ(capped.substr(capped.size() - 3), "...");
  EXPECT_EQ(capped.size() % 2, 1u);  // whole two-byte characters, then "..."
}

TEST(SupervisorReportTest, AWorkerSendsOnePacket) {
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends), 0);
  SendEntryErrorPacket(ends[0], "cannot start: pid file /x.pid is held");
  char packet[128];
  const ssize_t n = recv(ends[1], packet, sizeof(packet), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(packet[0], static_cast<char>(wire::Message::kEntryError));
  EXPECT_EQ(std::string(packet + 1, n - 1), "cannot start: pid file /x.pid is held");
  close(ends[0]);
  close(ends[1]);
}

}  // namespace
}  // namespace appkit::internal
