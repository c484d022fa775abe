// Retry decisions as pure functions of a try's result and the route's settings.
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

config::RetryPolicy route(int attempts, std::vector<std::string> on, bool non_idem = false) {
  config::RetryPolicy c;
  c.attempts = attempts;
  c.retry_on = std::move(on);
  c.non_idempotent = non_idem;
  return c;
}

// ---- the default (no retry: on the route) -----------------------------------------------

TEST(RetryPolicy, ConnectFailureMovesOnceToAnotherHost) {
  for (TryCause c :
       {TryCause::kConnectRefused, TryCause::kConnectTimeout, TryCause::kConnectFailed}) {
    RetryPolicy p(nullptr, false);
    auto d = p.decide(result(c, 1), 0, kTwoHosts);
    EXPECT_TRUE(d.retry);
    EXPECT_TRUE(d.counted);
    EXPECT_EQ(d.next.exclude, 1);
    EXPECT_FALSE(d.next.fresh_connection);
    EXPECT_EQ(d.reason, "connect-failure");
    EXPECT_FALSE(p.decide(result(c, 0), 0, kTwoHosts).retry) << "only one move";
  }
}

TEST(RetryPolicy, ConnectFailureStaysWithOneHostOrNoTime) {
  RetryPolicy p(nullptr, true);
  EXPECT_FALSE(p.decide(result(TryCause::kConnectRefused), 0, {1, true, true}).retry);
  RetryPolicy q(nullptr, true);
  EXPECT_FALSE(q.decide(result(TryCause::kConnectRefused), 0, {2, false, true}).retry);
}

TEST(RetryPolicy, KeepAliveRaceResendsOnceOnAFreshConnection) {
  RetryPolicy p(nullptr, false);  // any method: the upstream never saw it
  auto d = p.decide(result(TryCause::kResetBeforeResponse, 0, /*reused=*/true), 0, kTwoHosts);
  EXPECT_TRUE(d.retry);
  EXPECT_FALSE(d.counted);
  EXPECT_TRUE(d.next.fresh_connection);
  EXPECT_EQ(d.next.exclude, -1);
  EXPECT_EQ(d.reason, "reused-connection-closed");
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse, 0, true), 0, kTwoHosts).retry);
}

TEST(RetryPolicy, NoResendWithoutTheBodyOrOnAFreshConnection) {
  RetryPolicy p(nullptr, true);
  EXPECT_FALSE(
      p.decide(result(TryCause::kResetBeforeResponse, 0, true), 0, {2, true, false}).retry);
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse, 0, false), 0, kTwoHosts).retry);
}

TEST(RetryPolicy, DefaultRetriesNothingElse) {
  for (TryCause c :
       {TryCause::kNoHost, TryCause::kPoolExhausted, TryCause::kTimeout, TryCause::kBadResponse,
        TryCause::kResetDuringResponse, TryCause::kClientBodyTimeout, TryCause::kClientBadBody,
        TryCause::kClientGone}) {
    RetryPolicy p(nullptr, true);
    EXPECT_FALSE(p.decide(result(c, 0, true), 0, kTwoHosts).retry) << try_cause_name(c);
  }
  RetryPolicy p(nullptr, true);
  EXPECT_FALSE(p.wants_status(503));
}

// ---- a route's retry: -----------------------------------------------------------------

TEST(RetryPolicy, AttemptsCountEveryTry) {
  const auto cfg = route(3, {"reset"});
  RetryPolicy p(&cfg, true);
  EXPECT_TRUE(p.decide(result(TryCause::kResetBeforeResponse, 0), 0, kTwoHosts).retry);
  EXPECT_TRUE(p.decide(result(TryCause::kResetBeforeResponse, 1), 0, kTwoHosts).retry);
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse, 0), 0, kTwoHosts).retry);
  EXPECT_EQ(p.retries_done(), 2);
  const auto one = route(1, {"connect-failure"});
  RetryPolicy q(&one, true);  // attempts: 1 = no retry, not even a connect failure
  EXPECT_FALSE(q.decide(result(TryCause::kConnectRefused), 0, kTwoHosts).retry);
}

TEST(RetryPolicy, OnlyTheConditionsListed) {
  const auto cfg = route(3, {"connect-failure"});
  RetryPolicy p(&cfg, true);
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse), 0, kTwoHosts).retry);
  EXPECT_FALSE(p.decide(result(TryCause::kTimeout), 0, kTwoHosts).retry);
  EXPECT_FALSE(p.decide(result(TryCause::kOk), 503, kTwoHosts).retry);
  EXPECT_TRUE(p.decide(result(TryCause::kConnectTimeout), 0, kTwoHosts).retry);

  const auto refused = route(3, {"refused"});
  RetryPolicy q(&refused, true);
  EXPECT_FALSE(q.decide(result(TryCause::kConnectTimeout), 0, kTwoHosts).retry);
  EXPECT_TRUE(q.decide(result(TryCause::kConnectRefused), 0, kTwoHosts).retry);
}

TEST(RetryPolicy, StatusConditions) {
  const auto cfg = route(5, {"503", "retriable-4xx"});
  RetryPolicy p(&cfg, true);
  EXPECT_TRUE(p.wants_status(503));
  EXPECT_TRUE(p.wants_status(409));
  EXPECT_FALSE(p.wants_status(500));
  EXPECT_FALSE(p.wants_status(200));
  auto d = p.decide(result(TryCause::kOk, 1), 503, kTwoHosts);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.reason, "503");
  EXPECT_EQ(d.next.exclude, 1);

  const auto gw = route(2, {"gateway-error"});
  RetryPolicy g(&gw, true);
  EXPECT_TRUE(g.wants_status(502));
  EXPECT_TRUE(g.wants_status(504));
  EXPECT_FALSE(g.wants_status(500));
  const auto any = route(2, {"5xx"});
  RetryPolicy a(&any, true);
  EXPECT_TRUE(a.wants_status(500));
  EXPECT_TRUE(a.wants_status(599));
  // Envoy's meaning: 5xx also covers an upstream that did not answer.
  EXPECT_TRUE(a.decide(result(TryCause::kTimeout), 0, kTwoHosts).retry);
}

TEST(RetryPolicy, NonIdempotentIsNotResentOnceItMayHaveArrived) {
  const auto cfg = route(3, {"connect-failure", "reset", "timeout", "503"});
  RetryPolicy post(&cfg, /*idempotent=*/false);
  EXPECT_FALSE(post.decide(result(TryCause::kResetBeforeResponse), 0, kTwoHosts).retry);
  EXPECT_FALSE(post.decide(result(TryCause::kTimeout), 0, kTwoHosts).retry);
  EXPECT_FALSE(post.decide(result(TryCause::kOk), 503, kTwoHosts).retry);
  EXPECT_FALSE(post.may_resend_body());
  // Nothing reached the upstream: safe for any method.
  EXPECT_TRUE(post.decide(result(TryCause::kConnectRefused), 0, kTwoHosts).retry);

  RetryPolicy get(&cfg, true);
  EXPECT_TRUE(get.decide(result(TryCause::kResetBeforeResponse), 0, kTwoHosts).retry);
  EXPECT_TRUE(get.may_resend_body());

  const auto opt_in = route(3, {"reset"}, /*non_idempotent=*/true);
  RetryPolicy opted(&opt_in, false);
  EXPECT_TRUE(opted.decide(result(TryCause::kResetBeforeResponse), 0, kTwoHosts).retry);
}

TEST(RetryPolicy, NeedsTimeAndTheBody) {
  const auto cfg = route(3, {"reset"});
  RetryPolicy p(&cfg, true);
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse), 0, {2, false, true}).retry);
  EXPECT_FALSE(p.decide(result(TryCause::kResetBeforeResponse), 0, {2, true, false}).retry);
}

TEST(RetryPolicy, SameHostWhenItIsTheOnlyOne) {
  const auto cfg = route(2, {"reset"});
  RetryPolicy p(&cfg, true);
  auto d = p.decide(result(TryCause::kResetBeforeResponse, 0), 0, {1, true, true});
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.next.exclude, -1);
}

TEST(RetryPolicy, ClientFailuresAreNeverRetried) {
  const auto cfg = route(5, {"5xx", "reset", "timeout", "connect-failure"});
  for (TryCause c :
       {TryCause::kClientBodyTimeout, TryCause::kClientBadBody, TryCause::kClientGone}) {
    RetryPolicy p(&cfg, true);
    EXPECT_FALSE(p.decide(result(c), 0, kTwoHosts).retry) << try_cause_name(c);
  }
}

TEST(RetryPolicy, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
    EXPECT_TRUE(idempotent_method(m)) << m;
  for (const char* m : {"POST", "PATCH", "CONNECT", "get", "PROPFIND"})
    EXPECT_FALSE(idempotent_method(m)) << m;
}

}  // namespace
}  // namespace cw::proxy
