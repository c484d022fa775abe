// The per-host breaker's transitions and probe bound, panic mode's threshold and slow start's
// ramp, on explicit times. Thread contract: single-threaded, no clock, no sleeps.
#include "resilience/host_breaker.h"

#include <gtest/gtest.h>

#include "resilience/panic.h"
#include "resilience/slow_start.h"

namespace cw::resilience {
namespace {

HostBreakerSettings settings() { return {3, 1000, 2}; }

TEST(HostBreaker, OpensAfterConsecutiveFailuresOnly) {
  HostBreaker b;
  const auto s = settings();
  EXPECT_FALSE(b.on_failure(s, 0));
  EXPECT_FALSE(b.on_failure(s, 0));
  b.on_success();  // the run starts over
  EXPECT_FALSE(b.on_failure(s, 0));
  EXPECT_FALSE(b.on_failure(s, 0));
  EXPECT_TRUE(b.admits(s));
  EXPECT_TRUE(b.on_failure(s, 50));
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.open_until_ms(), 1050);
  EXPECT_FALSE(b.admits(s));
  EXPECT_FALSE(b.on_failure(s, 60));  // already open: late answers change nothing
  EXPECT_EQ(b.open_until_ms(), 1050);
}

TEST(HostBreaker, HalfOpenAdmitsABoundedNumberOfProbes) {
  HostBreaker b;
  const auto s = settings();
  for (int i = 0; i < 3; ++i) b.on_failure(s, 0);
  b.on_open_end();
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  EXPECT_TRUE(b.admits(s));
  b.on_start();
  EXPECT_TRUE(b.admits(s));
  b.on_start();
  EXPECT_FALSE(b.admits(s));  // two probes in flight, the bound
  b.on_neutral();             // one ended saying nothing: its slot is free again
  EXPECT_TRUE(b.admits(s));
  b.on_success();
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  EXPECT_EQ(b.probes(), 0u);
}

TEST(HostBreaker, AFailedProbeReopensForLongerUpToTheCap) {
  HostBreaker b;
  const auto s = settings();
  for (int i = 0; i < 3; ++i) b.on_failure(s, 0);
  int64_t t = 1000;
  const int64_t expected[] = {2000, 4000, 8000, 8000};
  for (int64_t want : expected) {
    b.on_open_end();
    b.on_start();
    EXPECT_TRUE(b.on_failure(s, t));
    EXPECT_EQ(b.open_until_ms() - t, want);
    t = b.open_until_ms();
  }
  // A success closes it and the open time starts from the base again.
  b.on_open_end();
  b.on_success();
  for (int i = 0; i < 3; ++i) b.on_failure(s, t);
  EXPECT_EQ(b.open_until_ms() - t, 1000);
}

TEST(HostBreaker, ZeroFailuresNeverOpens) {
  HostBreaker b;
  HostBreakerSettings s = settings();
  s.consecutive_failures = 0;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(b.on_failure(s, 0));
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  EXPECT_STREQ(breaker_state_name(BreakerState::kHalfOpen), "half_open");
}

TEST(Panic, BelowTheThresholdShareOnly) {
  EXPECT_FALSE(in_panic(2, 4, 50));  // exactly half: not below
  EXPECT_TRUE(in_panic(1, 4, 50));
  EXPECT_TRUE(in_panic(0, 1, 50));
  EXPECT_FALSE(in_panic(3, 3, 50));
  EXPECT_FALSE(in_panic(0, 4, 0));  // 0 = never
  EXPECT_TRUE(in_panic(9, 10, 100));
  EXPECT_FALSE(in_panic(0, 0, 50));  // no hosts: nothing to spread over
}

TEST(SlowStart, WeightRampsLinearlyFromMinToFull) {
  EXPECT_DOUBLE_EQ(slow_start_percent(1000, 1000, 30000, 10), 10.0);
  EXPECT_DOUBLE_EQ(slow_start_percent(1000, 16000, 30000, 10), 55.0);
  EXPECT_DOUBLE_EQ(slow_start_percent(1000, 31000, 30000, 10), 100.0);
  EXPECT_DOUBLE_EQ(slow_start_percent(1000, 500, 30000, 10), 10.0);  // clock before start
  EXPECT_DOUBLE_EQ(slow_start_percent(1000, 1000, 0, 10), 100.0);    // no window
}

}  // namespace
}  // namespace cw::resilience
