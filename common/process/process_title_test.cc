// common/process/process_title: the title fills the argv area (truncated,
// NUL-padded), comm follows, and ExecTitle gives room.
#include "common/process/process_title.h"

#include <sys/prctl.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace appkit {
namespace {

TEST(ProcessTitleTest, ATitleFillsTheArgvAreaAndSetsComm) {
  char area[] = "prog\0arg-one\0";  // 14 bytes with the final NUL
  char* argv[] = {area, area + 5, nullptr};
  InitProcessTitle(2, argv);
  SetProcessTitle("appkit-worker d/a-long-name", "a-long-worker-name");
  EXPECT_EQ(std::string(area, sizeof(area)), std::string("appkit-worke\0\0", 14));
  char comm[16] = {};
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  EXPECT_STREQ(comm, "a-long-worker-n");  // 15 bytes
  SetProcessTitle("short");
  EXPECT_EQ(std::string(area, sizeof(area)), std::string("short\0\0\0\0\0\0\0\0\0", 14));
  prctl(PR_GET_NAME, comm, 0, 0, 0);
  EXPECT_STREQ(comm, "short");
}

TEST(ProcessTitleTest, ExecTitleMakesRoomAndExecTitleOfTakesItBack) {
  const std::string title = ExecTitle("appkit-guardian demo");
  EXPECT_EQ(title.size(), kTitleRoom);
  EXPECT_EQ(ExecTitleOf(title.c_str()), "appkit-guardian demo");
  EXPECT_EQ(ExecTitle(std::string(kTitleRoom + 5, 'x')).size(), kTitleRoom + 5);
}

}  // namespace
}  // namespace appkit
