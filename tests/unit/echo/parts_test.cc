// Echo's pure parts, below the socket level: the WebSocket accept key and the query knobs
// (latency draws are tested with base/latency_dist, parsing with config/latency).
#include <gtest/gtest.h>

#include "echo/knobs.h"
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

}  // namespace
}  // namespace cw::echo::detail
