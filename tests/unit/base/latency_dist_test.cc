// Latency draws (base/latency_dist.h), shared by echo's --latency and the proxy's fault delay.
#include "base/latency_dist.h"

#include <gtest/gtest.h>

namespace cw {
namespace {

TEST(LatencyDist, DrawsStayInsideTheDistribution) {
  SplitMix64 rng(3);
  const LatencyDist fixed{LatencyDist::Kind::kFixed, 20, 0};
  const LatencyDist uniform{LatencyDist::Kind::kUniform, 10, 12};
  const LatencyDist exp{LatencyDist::Kind::kExponential, 50, 0};
  bool saw_low = false, saw_high = false;
  double exp_sum = 0;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(sample_latency(fixed, rng), 20);
    const int64_t u = sample_latency(uniform, rng);
    ASSERT_GE(u, 10);
    ASSERT_LE(u, 12);
    saw_low |= u == 10;
    saw_high |= u == 12;
    const int64_t e = sample_latency(exp, rng);
    ASSERT_GE(e, 0);
    ASSERT_LE(e, kMaxLatencyMs);
    exp_sum += double(e);
  }
  EXPECT_TRUE(saw_low && saw_high);  // both bounds are inclusive
  // Mean 50 ms, sd of the mean of 1000 draws ~1.6 ms: +-8 ms is over 4.5 sigma.
  EXPECT_NEAR(exp_sum / 1000, 50.0, 8.0);
  EXPECT_EQ(sample_latency(LatencyDist{}, rng), 0);
}

}  // namespace
}  // namespace cw
