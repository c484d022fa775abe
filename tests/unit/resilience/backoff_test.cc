// Exponential back-off with full jitter: ceilings and bounds.
#include "resilience/backoff.h"

#include <gtest/gtest.h>

namespace cw::resilience {
namespace {

TEST(Backoff, CeilingDoublesUpToMax) {
  EXPECT_EQ(backoff_ceiling_ms(25, 250, 0), 25);
  EXPECT_EQ(backoff_ceiling_ms(25, 250, 1), 50);
  EXPECT_EQ(backoff_ceiling_ms(25, 250, 3), 200);
  EXPECT_EQ(backoff_ceiling_ms(25, 250, 4), 250);
  EXPECT_EQ(backoff_ceiling_ms(25, 250, 60), 250);  // no overflow
  EXPECT_EQ(backoff_ceiling_ms(0, 250, 2), 0);
}

TEST(Backoff, FullJitterStaysInBoundsAndSpreads) {
  SplitMix64 rng(7);
  int64_t lo = 1 << 30, hi = -1;
  for (int i = 0; i < 10000; ++i) {
    const int64_t d = backoff_ms(25, 250, 2, rng);
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 100);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LE(lo, 5);   // full jitter reaches near zero ...
  EXPECT_GE(hi, 95);  // ... and near the ceiling
}

}  // namespace
}  // namespace cw::resilience
