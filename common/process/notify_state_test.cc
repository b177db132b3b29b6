#include "common/process/notify_state.h"

#include "gtest/gtest.h"

namespace appkit {
namespace {

NotifyState Parse(std::map<std::string, std::string> fields) {
  NotifySocket::Message message;
  message.sender = 42;
  message.fields = std::move(fields);
  return ParseNotifyState(message);
}

TEST(NotifyStateTest, EachFieldMeansItsOwnThing) {
  EXPECT_TRUE(Parse({{"READY", "1"}}).ready);
  EXPECT_TRUE(Parse({{"WATCHDOG", "1"}}).watchdog);
  EXPECT_TRUE(Parse({{"STOPPING", "1"}}).stopping);
  EXPECT_EQ(Parse({{"STATUS", "serving 3 clients"}}).status, "serving 3 clients");
  const NotifyState all = Parse({{"READY", "1"}, {"STATUS", "up"}, {"WATCHDOG", "1"}});
  EXPECT_TRUE(all.ready && all.watchdog && !all.stopping);
  EXPECT_EQ(all.status, "up");
}

TEST(NotifyStateTest, OtherValuesAndFieldsAreIgnored) {
  const NotifyState state =
      Parse({{"READY", "0"}, {"WATCHDOG", "trigger"}, {"MAINPID", "7"}, {"ERRNO", "2"}});
  EXPECT_FALSE(state.ready || state.watchdog || state.stopping);
  EXPECT_FALSE(state.status.has_value());
}

TEST(NotifyStateTest, StatusIsCapped) {
  EXPECT_EQ(Parse({{"STATUS", std::string(5000, 'x')}}).status->size(), kMaxNotifyStatus);
}

}  // namespace
}  // namespace appkit
