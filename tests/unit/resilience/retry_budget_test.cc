// The retry budget on explicit times: the ratio, the reserve, the window sliding.
#include "resilience/retry_budget.h"

#include <gtest/gtest.h>

namespace cw::resilience {
namespace {

int withdraw_all(RetryBudget& b, int64_t now, int max = 100000) {
  int n = 0;
  while (n < max && b.try_withdraw(now)) ++n;
  return n;
}

TEST(RetryBudget, RatioOfRequestsWithoutReserve) {
  RetryBudget b(20, 0);
  for (int i = 0; i < 1000; ++i) b.on_request(5000);
  EXPECT_EQ(withdraw_all(b, 5000), 200);  // 20% of 1000
  EXPECT_FALSE(b.try_withdraw(5000));
}

TEST(RetryBudget, ReserveAllowsAQuietClusterToRetry) {
  RetryBudget b(20, 10);  // 10/s over a 10 s window = 100
  EXPECT_EQ(withdraw_all(b, 0), 100);
  b.on_request(0);
  b.on_request(0);
  b.on_request(0);
  b.on_request(0);
  b.on_request(0);  // 5 x 20% = 1 more
  EXPECT_EQ(withdraw_all(b, 0), 1);
}

TEST(RetryBudget, ZeroBudgetNeverRetries) {
  RetryBudget b(0, 0);
  for (int i = 0; i < 100; ++i) b.on_request(0);
  EXPECT_FALSE(b.try_withdraw(0));
}

TEST(RetryBudget, WindowSlidesOldBucketsOut) {
  RetryBudget b(50, 0);
  for (int i = 0; i < 100; ++i) b.on_request(0);
  EXPECT_EQ(withdraw_all(b, 0), 50);
  // 9.9 s later both still count: no room.
  EXPECT_FALSE(b.try_withdraw(9900));
  // At 10 s the first bucket leaves: requests and retries of t=0 are forgotten together.
  EXPECT_EQ(b.requests(10000), 0u);
  EXPECT_EQ(b.retries(10000), 0u);
  for (int i = 0; i < 10; ++i) b.on_request(10000);
  EXPECT_EQ(withdraw_all(b, 10000), 5);
}

TEST(RetryBudget, LongGapClearsEverything) {
  RetryBudget b(20, 0);
  for (int i = 0; i < 100; ++i) b.on_request(1000);
  EXPECT_EQ(b.requests(1000), 100u);
  EXPECT_EQ(b.requests(1'000'000), 0u);
}

TEST(RetryBudget, UnderTotalFailureRetriesStayNearTheRatio) {
  // Every request fails and wants up to two retries, over 10 s at 100 requests/s: the
  // upstream sees at most (1 + 20%) x requests + the reserve.
  RetryBudget b(20, 1);
  uint64_t sent = 0, requests = 0;
  for (int64_t t = 0; t < 10000; t += 10) {
    b.on_request(t);
    ++requests;
    ++sent;
    for (int k = 0; k < 2 && b.try_withdraw(t); ++k) ++sent;
  }
  EXPECT_LE(double(sent), 1.2 * double(requests) + 10 + 1);
  EXPECT_GE(double(sent), 1.2 * double(requests) * 0.95);  // and the budget is used
}

TEST(RetryBudget, ClockSteppingBackDoesNotCorrupt) {
  RetryBudget b(100, 0);
  b.on_request(5000);
  b.on_request(4000);  // counted in the newest bucket
  EXPECT_EQ(b.requests(5000), 2u);
  EXPECT_EQ(withdraw_all(b, 4500), 2);
}

}  // namespace
}  // namespace cw::resilience
