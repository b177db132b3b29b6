// What `reload` decides for each daemon (the plan alone; appkitctl_test
// runs it against real daemons).
#include "client/ctl/reload.h"

#include "gtest/gtest.h"

namespace appkit::ctl {
namespace {

using Json = nlohmann::json;
using Action = ReloadStep::Action;

FoundDaemon Daemon(const std::string& name, bool running, std::optional<Json> applied,
                   Json settings) {
  return FoundDaemon{name, running, std::move(applied), std::move(settings)};
}

TEST(ReloadPlanTest, StopsRemovedThenRestartsChangedThenStartsAdded) {
  const Json a = {{"entry", "a:main"}, {"args", {{"x", 1}}}};
  Json a2 = a;
  a2["args"]["x"] = 2;
  a2["entry"] = "a:other";
  const std::vector<ReloadStep> plan =
      PlanReload({Daemon("added", false, std::nullopt, a), Daemon("changed", true, a, a2),
                  Daemon("same", true, a, a)},
                 {"gone"});
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].action, Action::kStop);
  EXPECT_EQ(plan[0].name, "gone");
  EXPECT_EQ(plan[0].why, "removed from the file");
  EXPECT_EQ(plan[1].action, Action::kRestart);
  EXPECT_EQ(plan[1].name, "changed");
  EXPECT_EQ(plan[1].why, "changed: args, entry");
  EXPECT_EQ(plan[2].action, Action::kStart);
  EXPECT_EQ(plan[2].name, "added");
  EXPECT_EQ(plan[3].action, Action::kKeep);
  EXPECT_EQ(plan[3].why, "unchanged");
}

TEST(ReloadPlanTest, StoppedByHandStaysStoppedAndUnknownSettingsAreLeftAlone) {
  const Json a = {{"entry", "a:main"}};
  const Json b = {{"entry", "a:other"}};
  const std::vector<ReloadStep> plan =
      PlanReload({Daemon("stopped", false, a, b), Daemon("old", true, std::nullopt, a)}, {});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].action, Action::kKeep);
  EXPECT_EQ(plan[0].why, "stopped: left stopped (changed: entry; applies at its next start)");
  EXPECT_EQ(plan[1].action, Action::kKeep);
  EXPECT_NE(plan[1].why.find("without a record"), std::string::npos);
}

}  // namespace
}  // namespace appkit::ctl
