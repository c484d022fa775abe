// Outlier detection on explicit times: consecutive 5xx and gateway failures, the ejection
// back-off (growth, cap, decay), max_ejection_percent with its one-host minimum, success-rate
// math. Thread contract: single-threaded, no clock, no sleeps.
#include "resilience/outlier.h"

#include <gtest/gtest.h>

namespace cw::resilience {
namespace {

OutlierSettings settings() {
  OutlierSettings s;
  s.max_ejection_percent = 100;  // most tests judge one host at a time
  return s;
}

// Feeds n outcomes to host i at time t; returns the last non-kNone reason.
EjectReason feed(OutlierDetector& d, size_t i, Outcome o, int n, int64_t t) {
  EjectReason last = EjectReason::kNone;
  for (int k = 0; k < n; ++k) {
    const EjectReason r = d.on_outcome(i, o, t);
    if (r != EjectReason::kNone) last = r;
  }
  return last;
}

TEST(Outlier, StatusesMapToOutcomes) {
  EXPECT_EQ(outcome_of_status(200), Outcome::kSuccess);
  EXPECT_EQ(outcome_of_status(404), Outcome::kSuccess);
  EXPECT_EQ(outcome_of_status(500), Outcome::k5xx);
  EXPECT_EQ(outcome_of_status(502), Outcome::kGatewayFailure);
  EXPECT_EQ(outcome_of_status(503), Outcome::kGatewayFailure);
  EXPECT_EQ(outcome_of_status(504), Outcome::kGatewayFailure);
  EXPECT_EQ(outcome_of_status(505), Outcome::k5xx);
}

TEST(Outlier, FiveConsecutive5xxEjectAndASuccessResetsTheRun) {
  OutlierDetector d(settings(), 3);
  EXPECT_EQ(feed(d, 0, Outcome::k5xx, 4, 0), EjectReason::kNone);
  EXPECT_EQ(d.on_outcome(0, Outcome::kSuccess, 0), EjectReason::kNone);
  EXPECT_EQ(feed(d, 0, Outcome::k5xx, 4, 0), EjectReason::kNone);  // the run started over
  EXPECT_EQ(d.on_outcome(0, Outcome::k5xx, 0), EjectReason::kConsecutive5xx);
  EXPECT_TRUE(d.host(0).ejected);
  EXPECT_EQ(d.host(0).ejected_until_ms, 30000);
  EXPECT_EQ(d.ejected_count(), 1u);
}

TEST(Outlier, GatewayFailuresEjectAsSuchAndA500BreaksTheirRun) {
  OutlierSettings s = settings();
  s.consecutive_5xx = 0;  // only the gateway detector
  OutlierDetector d(s, 3);
  feed(d, 1, Outcome::kGatewayFailure, 4, 0);
  d.on_outcome(1, Outcome::k5xx, 0);  // a 500: not a gateway failure
  EXPECT_EQ(feed(d, 1, Outcome::kGatewayFailure, 4, 0), EjectReason::kNone);
  EXPECT_EQ(d.on_outcome(1, Outcome::kGatewayFailure, 0), EjectReason::kConsecutiveGatewayFailure);
}

TEST(Outlier, NeutralOutcomesAndDisabledDetectionEjectNothing) {
  OutlierDetector d(settings(), 2);
  EXPECT_EQ(feed(d, 0, Outcome::kNeutral, 50, 0), EjectReason::kNone);
  OutlierSettings off = settings();
  off.enabled = false;
  OutlierDetector quiet(off, 2);
  EXPECT_EQ(feed(quiet, 0, Outcome::kGatewayFailure, 50, 0), EjectReason::kNone);
  EXPECT_FALSE(quiet.host(0).ejected);
}

TEST(Outlier, EjectionTimeGrowsWithEachEjectionUpToTheCap) {
  OutlierSettings s = settings();
  s.base_ejection_ms = 30000;
  s.max_ejection_ms = 100000;
  OutlierDetector d(s, 2);
  int64_t t = 0;
  const int64_t expected[] = {30000, 60000, 90000, 100000, 100000};
  for (int64_t want : expected) {
    ASSERT_NE(feed(d, 0, Outcome::kGatewayFailure, 5, t), EjectReason::kNone);
    EXPECT_EQ(d.host(0).ejected_until_ms - t, want);
    t = d.host(0).ejected_until_ms;
    d.uneject(0, t);  // back, and at once failing again (no quiet period)
  }
  EXPECT_EQ(d.ejection_ms(1'000'000'000), 100000);  // no overflow
}

TEST(Outlier, TimesEjectedDecaysByOnePerQuietBasePeriod) {
  OutlierDetector d(settings(), 2);  // base 30 s
  int64_t t = 0;
  for (int k = 0; k < 3; ++k) {
    feed(d, 0, Outcome::kGatewayFailure, 5, t);
    t = d.host(0).ejected_until_ms;
    d.uneject(0, t);
  }
  EXPECT_EQ(d.host(0).times_ejected, 3u);
  std::vector<size_t> out;
  d.on_interval(t + 29999, out);
  EXPECT_EQ(d.host(0).times_ejected, 3u);
  d.on_interval(t + 30000, out);
  EXPECT_EQ(d.host(0).times_ejected, 2u);
  d.on_interval(t + 65000, out);  // one more full period (the mark moved to t + 30 s)
  EXPECT_EQ(d.host(0).times_ejected, 1u);
  // Decay is applied before a new ejection too: after a long quiet spell it starts from base.
  t += 1'000'000;
  feed(d, 0, Outcome::kGatewayFailure, 5, t);
  EXPECT_EQ(d.host(0).times_ejected, 1u);
  EXPECT_EQ(d.host(0).ejected_until_ms - t, 30000);
}

TEST(Outlier, MaxEjectionPercentAlwaysLetsOneHostGo) {
  OutlierSettings s;  // max_ejection_percent 10
  OutlierDetector d(s, 3);
  EXPECT_NE(feed(d, 0, Outcome::kGatewayFailure, 5, 0), EjectReason::kNone);   // 0% < 10%
  EXPECT_EQ(feed(d, 1, Outcome::kGatewayFailure, 20, 0), EjectReason::kNone);  // 33% >= 10%
  EXPECT_FALSE(d.host(1).ejected);
  EXPECT_EQ(d.ejected_count(), 1u);
  // When the first comes back, the held-in host goes at its next failure.
  d.uneject(0, 30000);
  EXPECT_EQ(d.on_outcome(1, Outcome::kGatewayFailure, 30000),
            EjectReason::kConsecutiveGatewayFailure);
}

TEST(Outlier, MaxEjectionPercentBoundsTheShare) {
  OutlierSettings s;
  s.max_ejection_percent = 50;
  OutlierDetector d(s, 4);
  for (size_t i = 0; i < 4; ++i) feed(d, i, Outcome::kGatewayFailure, 5, 0);
  EXPECT_EQ(d.ejected_count(), 2u);  // 0% and 25% < 50%; 50% is not
  s.max_ejection_percent = 0;
  OutlierDetector none(s, 4);
  feed(none, 0, Outcome::kGatewayFailure, 5, 0);
  EXPECT_EQ(none.ejected_count(), 0u);
}

TEST(Outlier, SuccessRateThresholdIsMeanMinusFactorTimesStdev) {
  double th = 0;
  EXPECT_FALSE(success_rate_threshold({100, 100, 100, 50}, 5, 1.9, th));  // too few hosts
  ASSERT_TRUE(success_rate_threshold({100, 100, 100, 100, 50}, 5, 1.9, th));
  // mean 90, population stdev 20: 90 - 1.9 x 20 = 52
  EXPECT_NEAR(th, 52.0, 1e-9);
  ASSERT_TRUE(success_rate_threshold({100, 100, 100, 100, 100}, 5, 1.9, th));
  EXPECT_NEAR(th, 100.0, 1e-9);  // nobody is below an even field
}

TEST(Outlier, SuccessRateOutlierIsEjectedAtTheInterval) {
  OutlierSettings s;
  s.max_ejection_percent = 100;
  s.consecutive_5xx = s.consecutive_gateway_failure = 0;  // success rate alone
  OutlierDetector d(s, 6);
  for (size_t i = 0; i < 5; ++i) feed(d, i, Outcome::kSuccess, 100, 0);
  // Host 5: half its answers fail, never five in a row.
  for (int k = 0; k < 100; ++k)
    d.on_outcome(5, k % 2 ? Outcome::kGatewayFailure : Outcome::kSuccess, 0);
  std::vector<size_t> out;
  EXPECT_TRUE(d.on_interval(10000, out));
  ASSERT_EQ(out, (std::vector<size_t>{5}));
  EXPECT_TRUE(d.host(5).ejected);
  // The next interval starts from zero: nothing qualifies, nobody else is ejected.
  out.clear();
  d.on_interval(20000, out);
  EXPECT_TRUE(out.empty());
}

TEST(Outlier, SuccessRateNeedsVolumeAndMinimumHosts) {
  OutlierSettings s;
  s.max_ejection_percent = 100;
  s.consecutive_5xx = s.consecutive_gateway_failure = 0;
  OutlierDetector d(s, 6);
  for (size_t i = 0; i < 5; ++i) feed(d, i, Outcome::kSuccess, 99, 0);  // one short of volume
  feed(d, 5, Outcome::k5xx, 100, 0);
  std::vector<size_t> out;
  d.on_interval(10000, out);
  EXPECT_TRUE(out.empty());         // only one host qualified, five are needed
  s.success_rate_stdev_factor = 0;  // off
  OutlierDetector off(s, 6);
  for (size_t i = 0; i < 5; ++i) feed(off, i, Outcome::kSuccess, 200, 0);
  feed(off, 5, Outcome::k5xx, 200, 0);
  off.on_interval(10000, out);
  EXPECT_TRUE(out.empty());
}

TEST(Outlier, AnIdleDetectorAsksForNoMoreTicks) {
  OutlierDetector d(settings(), 2);
  std::vector<size_t> out;
  EXPECT_FALSE(d.on_interval(10000, out));
  d.on_outcome(0, Outcome::kSuccess, 10000);
  EXPECT_TRUE(d.on_interval(20000, out));
  EXPECT_FALSE(d.on_interval(30000, out));
}

}  // namespace
}  // namespace cw::resilience
