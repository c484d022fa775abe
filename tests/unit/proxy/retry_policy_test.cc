// Retry decisions as pure functions of a try's result: today's two rules and nothing more.
#include "proxy/retry_policy.h"

#include <gtest/gtest.h>

namespace cw::proxy {
namespace {

TryResult result(TryCause c, int host = 0, bool reused = false) {
  TryResult r;
  r.cause = c;
  r.host = host;
  r.reused = reused;
  return r;
}

constexpr RetryPolicy::Facts kTwoHosts{2, true, true};

TEST(RetryPolicy, ConnectFailureMovesOnceToAnotherHost) {
  for (TryCause c :
       {TryCause::kConnectRefused, TryCause::kConnectTimeout, TryCause::kConnectFailed}) {
    RetryPolicy p;
    auto d = p.decide(result(c, 1), kTwoHosts);
    EXPECT_TRUE(d.retry);
    EXPECT_EQ(d.next.exclude, 1);
    EXPECT_FALSE(d.next.fresh_connection);
    EXPECT_EQ(d.reason, "connect-failure");
    EXPECT_FALSE(p.decide(result(c, 0), kTwoHosts).retry) << "only one move";
  }
}

TEST(RetryPolicy, ConnectFailureStaysWithOneHostOrNoTime) {
  RetryPolicy p;
  EXPECT_FALSE(p.decide(result(TryCause::kConnectRefused), {1, true, true}).retry);
  RetryPolicy q;
  EXPECT_FALSE(q.decide(result(TryCause::kConnectRefused), {2, false, true}).retry);
}

TEST(RetryPolicy, KeepAliveRaceResendsOnceOnAFreshConnection) {
  RetryPolicy p;
  auto d = p.decide(result(TryCause::kResetBeforeResponse, 0, /*reused=*/true), kTwoHosts);
  EXPECT_TRUE(d.retry);
  EXPECT_TRUE(d.next.fresh_connection);
  EXPECT_EQ(d.next.exclude, -1);
  EXPECT_EQ(d.reason, "reused-connection-closed");
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse, 0, true), kTwoHosts).retry);
}

TEST(RetryPolicy, NoResendWithoutTheBodyOrOnAFreshConnection) {
  RetryPolicy p;
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse, 0, true), {2, true, false}).retry);
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse, 0, false), kTwoHosts).retry);
}

TEST(RetryPolicy, EverythingElseEndsTheRequest) {
  for (TryCause c :
       {TryCause::kNoHost, TryCause::kPoolExhausted, TryCause::kTimeout, TryCause::kBadResponse,
        TryCause::kResetDuringResponse, TryCause::kClientBodyTimeout, TryCause::kClientBadBody,
        TryCause::kClientGone}) {
    RetryPolicy p;
    EXPECT_FALSE(p.decide(result(c, 0, true), kTwoHosts).retry) << try_cause_name(c);
  }
}

}  // namespace
}  // namespace cw::proxy
