// Echo's pure parts, below the socket level: the WebSocket accept key, the query knobs and the
// latency draws.
#include <gtest/gtest.h>

#include "echo/knobs.h"
#include "echo/latency.h"
#include "echo/websocket.h"

namespace cw::echo::detail {
namespace {

TEST(EchoWebSocket, AcceptKeyIsTheRfc6455Example) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(EchoKnobs, ParsesEveryKnobAndIgnoresUnknownKeys) {
  Knobs k;
  EXPECT_EQ(parse_knobs("echo_headers=1&status=418&size=64KiB&delay=20ms&x=y&flag", k), nullptr);
  EXPECT_TRUE(k.echo_headers);
  EXPECT_EQ(k.status, 418);
  EXPECT_TRUE(k.has_size);
  EXPECT_EQ(k.size, 64u * 1024);
  EXPECT_EQ(k.delay_ms, 20);
  Knobs bare;
  EXPECT_EQ(parse_knobs("delay=15", bare), nullptr);  // a bare number is milliseconds
  EXPECT_EQ(bare.delay_ms, 15);
}

TEST(EchoKnobs, RefusesOutOfRangeValues) {
  for (const char* q : {"status=199", "status=600", "status=", "status=2x0", "size=2GiB",
                        "size=lots", "delay=11m", "delay=-1", "delay=soon"}) {
    Knobs k;
    EXPECT_NE(parse_knobs(q, k), nullptr) << q;
  }
}

TEST(EchoLatency, DrawsStayInsideTheDistribution) {
  SplitMix64 rng(3);
  const LatencyDist fixed{LatencyDist::Kind::kFixed, 20, 0};
  const LatencyDist uniform{LatencyDist::Kind::kUniform, 10, 12};
  const LatencyDist exp{LatencyDist::Kind::kExponential, 50, 0};
  bool saw_low = false, saw_high = false;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(sample_latency(fixed, rng), 20);
    const int64_t u = sample_latency(uniform, rng);
    ASSERT_GE(u, 10);
    ASSERT_LE(u, 12);
    saw_low |= u == 10;
    saw_high |= u == 12;
    const int64_t e = sample_latency(exp, rng);
    ASSERT_GE(e, 0);
    ASSERT_LE(e, kMaxDelayMs);
  }
  EXPECT_TRUE(saw_low && saw_high);  // both bounds are inclusive
  EXPECT_EQ(sample_latency(LatencyDist{}, rng), 0);
}

}  // namespace
}  // namespace cw::echo::detail
