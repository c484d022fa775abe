// The health threshold state machine: first result decides, thresholds afterwards, counts and
// times recorded, and the starts-unserving kind (registry targets); no clock, no sockets.
#include "resilience/health_state.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "base/random.h"

namespace cw::resilience {
namespace {

TEST(HealthState, StartsUncheckedAndServing) {
  HealthState s;
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnchecked);
  EXPECT_TRUE(s.serving());
  EXPECT_EQ(s.checks(), 0u);
  EXPECT_EQ(s.last_check_ms(), 0);
  EXPECT_EQ(verdict_name(s.verdict()), "unchecked");
}

TEST(HealthState, FirstFailureMarksDownAtOnce) {
  HealthState s({2, 3});
  EXPECT_TRUE(s.record(false, 100));  // serving changed: the workers must hear of it
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnhealthy);
  EXPECT_FALSE(s.serving());
  EXPECT_EQ(s.changed_ms(), 100);
  EXPECT_EQ(s.consecutive_failures(), 1u);
}

TEST(HealthState, FirstSuccessMarksHealthyWithoutAServingChange) {
  HealthState s({2, 3});
  EXPECT_FALSE(s.record(true, 100));  // unchecked already served: nothing to tell
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
  EXPECT_EQ(s.changed_ms(), 100);
}

TEST(HealthState, UnhealthyAfterThresholdConsecutiveFailures) {
  HealthState s({2, 3});
  s.record(true, 0);
  EXPECT_FALSE(s.record(false, 10));
  EXPECT_FALSE(s.record(false, 20));
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
  EXPECT_EQ(s.consecutive_failures(), 2u);
  EXPECT_TRUE(s.record(false, 30));
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnhealthy);
  EXPECT_EQ(s.changed_ms(), 30);
  EXPECT_FALSE(s.record(false, 40));  // already out
  EXPECT_EQ(s.consecutive_failures(), 4u);
}

TEST(HealthState, ASuccessResetsTheFailureRun) {
  HealthState s({2, 3});
  s.record(true, 0);
  s.record(false, 10);
  s.record(false, 20);
  s.record(true, 30);
  EXPECT_EQ(s.consecutive_failures(), 0u);
  EXPECT_EQ(s.consecutive_successes(), 1u);
  s.record(false, 40);
  s.record(false, 50);
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);  // 2 < 3 in a row
}

TEST(HealthState, HealthyAgainAfterThresholdConsecutiveSuccesses) {
  HealthState s({2, 3});
  s.record(false, 0);  // down at start-up
  EXPECT_FALSE(s.record(true, 10));
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnhealthy);
  EXPECT_FALSE(s.record(false, 20));  // the run restarts
  EXPECT_FALSE(s.record(true, 30));
  EXPECT_TRUE(s.record(true, 40));
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
  EXPECT_TRUE(s.serving());
  EXPECT_EQ(s.changed_ms(), 40);
  EXPECT_EQ(s.checks(), 5u);
  EXPECT_EQ(s.last_check_ms(), 40);
}

TEST(HealthState, ThresholdsOfOneFlipOnEveryChange) {
  HealthState s({1, 1});
  s.record(true, 0);
  EXPECT_TRUE(s.record(false, 1));
  EXPECT_TRUE(s.record(true, 2));
  EXPECT_TRUE(s.record(false, 3));
}

TEST(HealthState, ZeroThresholdsActAsOne) {
  HealthState s({0, 0});
  s.record(true, 0);
  EXPECT_TRUE(s.record(false, 1));
  EXPECT_EQ(s.thresholds().unhealthy, 1u);
}

TEST(HealthState, NewThresholdsKeepTheVerdictAndCounts) {
  HealthState s({2, 5});
  s.record(true, 0);
  for (int i = 1; i <= 3; ++i) s.record(false, i);
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
  s.set_thresholds({2, 4});  // a reload lowered it: the run so far counts
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
  EXPECT_TRUE(s.record(false, 4));
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnhealthy);
}

TEST(HealthState, StartsUnservingHoldsAnUncheckedTargetOut) {
  HealthState s = HealthState::starts_unserving({2, 3});
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnchecked);
  EXPECT_FALSE(s.serving());
  EXPECT_FALSE(s.unchecked_serves());
  EXPECT_TRUE(HealthState().unchecked_serves());  // the clusters' default is unchanged
}

TEST(HealthState, StartsUnservingFirstSuccessIsAServingChange) {
  HealthState s = HealthState::starts_unserving({2, 3});
  EXPECT_TRUE(s.record(true, 100));  // one pass is enough: the first result decides
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
  EXPECT_TRUE(s.serving());
  EXPECT_EQ(s.changed_ms(), 100);
}

TEST(HealthState, StartsUnservingFirstFailureDecidesWithoutAServingChange) {
  HealthState s = HealthState::starts_unserving({2, 3});
  EXPECT_FALSE(s.record(false, 100));  // it was not serving before either
  EXPECT_EQ(s.verdict(), HealthVerdict::kUnhealthy);
  EXPECT_FALSE(s.serving());
  EXPECT_EQ(s.changed_ms(), 100);
  EXPECT_FALSE(s.record(true, 110));  // from here on the thresholds apply as usual
  EXPECT_TRUE(s.record(true, 120));
  EXPECT_EQ(s.verdict(), HealthVerdict::kHealthy);
}

TEST(HealthState, StartsUnservingThenThresholdsAsUsual) {
  HealthState s = HealthState::starts_unserving({2, 2});
  s.record(true, 0);
  EXPECT_FALSE(s.record(false, 10));
  EXPECT_TRUE(s.record(false, 20));
  EXPECT_FALSE(s.serving());
  s.set_thresholds({1, 1});  // a new check config keeps the kind
  EXPECT_FALSE(s.unchecked_serves());
  EXPECT_TRUE(s.record(true, 30));
}

TEST(HealthState, JitteredIntervalStaysInBoundsAndSpreads) {
  EXPECT_EQ(jittered_interval_ms(1000, 10, 0.0), 900);
  EXPECT_EQ(jittered_interval_ms(1000, 10, 0.5), 1000);
  EXPECT_EQ(jittered_interval_ms(1000, 10, 0.999999), 1100);
  EXPECT_EQ(jittered_interval_ms(1000, 0, 0.0), 1000);  // jitter off
  EXPECT_EQ(jittered_interval_ms(1, 50, 0.0), 1);       // never 0: no busy loop
  SplitMix64 rng(3);
  int64_t lo = 1 << 30, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    const int64_t d = jittered_interval_ms(250, 10, rng.uniform());
    ASSERT_GE(d, 225);
    ASSERT_LE(d, 275);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LE(lo, 227);
  EXPECT_GE(hi, 273);
}

}  // namespace
}  // namespace cw::resilience
