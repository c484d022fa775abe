// Fault injection's pure parts (proxy/fault.h, spans.h): the x-causeway-fault grammar, the
// per-request draw and its statistics, the body pacer's schedule, and how a plan is shown.
// No sockets, no sleeps: the generator is seeded and the pacer takes the time.
#include "proxy/fault.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cw::proxy {
namespace {

using K = LatencyDist::Kind;

TEST(FaultHeader, ParsesEveryPart) {
  FaultRequest r;
  ASSERT_EQ(parse_fault_header("delay=200ms, abort=503, reset, throttle=1KiB", r), nullptr);
  EXPECT_EQ(r.delay, (LatencyDist{K::kFixed, 200, 0}));
  EXPECT_EQ(r.abort_status, 503);
  EXPECT_TRUE(r.reset);
  EXPECT_EQ(r.throttle_bps, 1024u);

  ASSERT_EQ(parse_fault_header("delay=10ms-50ms", r), nullptr);
  EXPECT_EQ(r.delay, (LatencyDist{K::kUniform, 10, 50}));
  EXPECT_EQ(r.abort_status, 0) << "each parse starts afresh";
  EXPECT_FALSE(r.reset);
  ASSERT_EQ(parse_fault_header("delay=exp:20ms,throttle=512", r), nullptr);
  EXPECT_EQ(r.delay, (LatencyDist{K::kExponential, 20, 0}));
  EXPECT_EQ(r.throttle_bps, 512u);
  ASSERT_EQ(parse_fault_header("  abort=418 ,\tabort=500  ", r), nullptr);
  EXPECT_EQ(r.abort_status, 500) << "the last value of a part wins";
}

TEST(FaultHeader, RefusesMalformedValues) {
  for (const char* bad :
       {"", " ", "delay", "delay=", "delay=200", "delay=fast", "delay=50ms-10ms", "delay=11m",
        "abort=199", "abort=600", "abort=5o3", "abort", "reset=1", "throttle=0", "throttle=1k",
        "throttle", "drop", "Delay=1ms", "delay=1ms,", ",reset", "reset,,abort=503"}) {
    FaultRequest r;
    EXPECT_NE(parse_fault_header(bad, r), nullptr) << "'" << bad << "'";
  }
}

TEST(FaultPlan, HeaderPartsAlwaysFireAndReplaceTheRoutes) {
  SplitMix64 rng(1);
  config::Fault route;
  route.abort = config::FaultAbort{100, 500};
  FaultRequest h;
  h.delay = LatencyDist{K::kFixed, 7, 0};
  h.abort_status = 418;
  const FaultPlan p = plan_faults(&route, &h, rng);
  EXPECT_EQ(p.delay_ms, 7);
  EXPECT_EQ(p.abort_status, 418);
  EXPECT_FALSE(p.reset);
  EXPECT_FALSE(plan_faults(nullptr, nullptr, rng).any());
  EXPECT_FALSE(plan_faults(&route, nullptr, rng).has(FaultKind::kDelay));
}

TEST(FaultPlan, ResetWinsOverAbortAndEitherOverThrottle) {
  SplitMix64 rng(2);
  FaultRequest h;
  h.reset = true;
  h.abort_status = 503;
  h.throttle_bps = 10;
  h.delay = LatencyDist{K::kFixed, 1, 0};
  FaultPlan p = plan_faults(nullptr, &h, rng);
  EXPECT_TRUE(p.reset);
  EXPECT_EQ(p.abort_status, 0);
  EXPECT_EQ(p.throttle_bps, 0u);
  EXPECT_EQ(p.delay_ms, 1) << "a delay comes first whatever follows";
  h.reset = false;
  p = plan_faults(nullptr, &h, rng);
  EXPECT_EQ(p.abort_status, 503);
  EXPECT_EQ(p.throttle_bps, 0u);
}

TEST(FaultPlan, ZeroAndHundredPercent) {
  SplitMix64 rng(3);
  config::Fault never, always;
  never.abort = config::FaultAbort{0, 503};
  never.reset = config::FaultReset{0};
  always.abort = config::FaultAbort{100, 503};
  always.throttle = config::FaultThrottle{100, 64};
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_FALSE(plan_faults(&never, nullptr, rng).any());
    ASSERT_EQ(plan_faults(&always, nullptr, rng).abort_status, 503);
  }
}

// Each part fires on its own share, independently: over n draws the counts stay within
// 4.5 binomial standard deviations of n*p (a false alarm about once in 150,000 runs; the seed is
// fixed anyway).
TEST(FaultPlan, SharesFollowThePercentages) {
  SplitMix64 rng(42);
  config::Fault f;
  f.delay = config::FaultDelay{10, LatencyDist{K::kUniform, 5, 15}};
  f.abort = config::FaultAbort{5, 503};
  f.throttle = config::FaultThrottle{50, 1000};
  const int n = 100'000;
  int delays = 0, aborts = 0, throttles = 0, both = 0;
  for (int i = 0; i < n; ++i) {
    const FaultPlan p = plan_faults(&f, nullptr, rng);
    if (p.delay_ms >= 0) {
      ++delays;
      ASSERT_GE(p.delay_ms, 5);
      ASSERT_LE(p.delay_ms, 15);
    }
    aborts += p.abort_status == 503;
    throttles += p.throttle_bps == 1000;
    both += p.delay_ms >= 0 && p.abort_status != 0;
  }
  auto within = [n](int count, double p) {
    const double sd = std::sqrt(n * p * (1 - p));
    return std::abs(count - n * p) <= 4.5 * sd;
  };
  EXPECT_TRUE(within(delays, 0.10)) << delays;
  EXPECT_TRUE(within(aborts, 0.05)) << aborts;
  // Throttle fires on 50% of the draws and is dropped when an abort fires: 0.5 * 0.95.
  EXPECT_TRUE(within(throttles, 0.475)) << throttles;
  EXPECT_TRUE(within(both, 0.005)) << both << " (independent draws: 10% x 5%)";
}

TEST(BodyPacer, SlicesAboutATenthOfASecond) {
  BodyPacer p(1000, 0);
  EXPECT_TRUE(p.active());
  EXPECT_EQ(p.slice(16384), 100u);
  EXPECT_EQ(p.slice(30), 30u);
  EXPECT_EQ(p.slice(0), 0u);
  EXPECT_EQ(BodyPacer(5, 0).slice(100), 1u) << "at least a byte";
  EXPECT_FALSE(BodyPacer(0, 0).active());
}

TEST(BodyPacer, ABodyTakesAtLeastItsSizeOverTheRate) {
  // 1000 B/s from t=1000 ms: the first 100 bytes are due at 1100, the next at 1200, ...
  BodyPacer p(1000, 1000);
  EXPECT_EQ(p.wait_ms(100, 1000), 100);
  EXPECT_EQ(p.wait_ms(100, 1100), 0);
  p.sent(100);
  EXPECT_EQ(p.wait_ms(100, 1150), 50);
  EXPECT_EQ(p.wait_ms(100, 5000), 0) << "late: send now (the average rate still holds)";
  // Walk a 2500-byte body with the pacer's own schedule: it ends at 2500 ms after the start.
  BodyPacer q(1000, 0);
  int64_t now = 0;
  size_t left = 2500;
  while (left > 0) {
    const size_t n = q.slice(left);
    now += q.wait_ms(n, now);
    q.sent(n);
    left -= n;
  }
  EXPECT_EQ(now, 2500);
}

TEST(FaultMarks, ServerTimingAndDescribe) {
  Spans s;
  s.start_ns = 1;
  s.parsed_ns = 1;
  s.fault.delay_ms = 200;
  s.fault.abort_status = 503;
  const std::string st = s.server_timing();
  EXPECT_NE(st.find(", fault;desc=\"delay\";dur=200"), std::string::npos) << st;
  EXPECT_NE(st.find(", fault;desc=\"abort 503\""), std::string::npos) << st;
  EXPECT_EQ(s.fault.describe(), "delay=200ms, abort=503");
  FaultPlan t;
  t.reset = true;
  t.throttle_bps = 1024;
  EXPECT_EQ(t.describe(), "reset, throttle=1024");
  // What the access log shows parses back as the header.
  FaultRequest r;
  ASSERT_EQ(parse_fault_header(s.fault.describe(), r), nullptr);
  EXPECT_EQ(r.abort_status, 503);
  Spans bare;
  bare.fault.reset = true;
  EXPECT_EQ(bare.server_timing(), "fault;desc=\"reset\"");
  EXPECT_EQ(fault_kind_name(FaultKind::kThrottle), "throttle");
}

}  // namespace
}  // namespace cw::proxy
