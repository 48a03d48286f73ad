// Readiness: ready when every registered condition holds; listeners hear each change once.

#include "common/core/readiness.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

using ::testing::ElementsAre;

TEST(ReadinessTest, ReadyWhenEveryConditionHoldsAndListenersHearEachChangeOnce) {
  Readiness r;
  std::vector<bool> heard;
  r.OnChange([&](bool ready) { heard.push_back(ready); });
  EXPECT_TRUE(r.Ready()) << "nothing registered";
  r.Set("kafka", false);
  r.Set("subscribed", false);
  EXPECT_FALSE(r.Ready());
  EXPECT_THAT(r.Unmet(), ElementsAre("kafka", "subscribed"));
  r.Set("kafka", true);
  EXPECT_FALSE(r.Ready());
  EXPECT_THAT(r.Unmet(), ElementsAre("subscribed"));
  r.Set("subscribed", true);
  r.Set("subscribed", true);
  EXPECT_TRUE(r.Ready());
  r.Set("kafka", false);
  EXPECT_THAT(heard, ElementsAre(false, true, false)) << "changes only, in order";
}

}  // namespace
}  // namespace cdnwarm::common
