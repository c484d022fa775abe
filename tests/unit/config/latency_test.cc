// Latency distribution parsing (config/latency.h): echo's --latency, a route's fault delay and
// the x-causeway-fault header's delay= share it.
#include "config/latency.h"

#include <gtest/gtest.h>

namespace cw::config {
namespace {

TEST(LatencyParse, EveryForm) {
  using K = LatencyDist::Kind;
  EXPECT_EQ(parse_latency("")->kind, K::kNone);
  EXPECT_EQ(parse_latency("20ms"), (LatencyDist{K::kFixed, 20, 0}));
  EXPECT_EQ(parse_latency("10ms-1s"), (LatencyDist{K::kUniform, 10, 1000}));
  EXPECT_EQ(parse_latency("exp:20ms"), (LatencyDist{K::kExponential, 20, 0}));
  EXPECT_EQ(parse_latency("0ms-0ms"), (LatencyDist{K::kUniform, 0, 0}));
  EXPECT_EQ(parse_latency("10m"), (LatencyDist{K::kFixed, kMaxLatencyMs, 0}));
}

TEST(LatencyParse, RefusesMalformedText) {
  for (const char* bad : {"20", "fast", "50ms-10ms", "exp:", "exp:0ms", "10ms-", "-5ms", "1h",
                          "20 ms", "exp:-3ms", "11m", "1ms-11m"}) {
    EXPECT_FALSE(parse_latency(bad)) << bad;
  }
}

TEST(LatencyParse, TellsADistributionFromADuration) {
  EXPECT_FALSE(is_latency_distribution("250ms"));
  EXPECT_TRUE(is_latency_distribution("10ms-50ms"));
  EXPECT_TRUE(is_latency_distribution("exp:20ms"));
}

}  // namespace
}  // namespace cw::config
