// The attempt loop with a fake upstream connector/codec and a fake downstream: which try goes
// where, what each failure is called, and that counters and connections are returned on every
// path. No sockets, no sleeps: every fake completes at once.
#include "proxy/attempt.h"

#include <gtest/gtest.h>

#include <mutex>

#include "fakes.h"
#include "try_world.h"
#include "proxy/request_headers.h"
#include "proxy/retry_policy.h"
#include "resilience/backoff.h"
#include "upstream/cluster.h"

namespace cw::proxy {
namespace {

using testing::FakeConnector;
using testing::FakeDownstream;
using X = testing::Exchange;

constexpr const char* kA = "10.0.0.1:80";
constexpr const char* kB = "10.0.0.2:80";

class AttemptTest : public ::testing::Test, protected testing::TryWorld {
 protected:
  void build(std::vector<const char*> hosts, size_t max_connections = 16) {
    config::Cluster c;
    c.name = "api";
    c.pool.max_connections = max_connections;
    c.circuit_breaker = breaker_;
    for (const char* h : hosts) {
      std::string s(h);
      auto colon = s.rfind(':');
      c.endpoints.push_back({{s.substr(0, colon), uint16_t(std::stoi(s.substr(colon + 1)))}, 1});
    }
    std::string err;
    snap_ = upstream::build_cluster(c, nullptr, err);
    ASSERT_TRUE(snap_) << err;
    cluster_ = std::make_unique<upstream::WorkerCluster>(snap_, loop_, 1, nullptr, stats_, mu_);
  }
  void request(std::string method, std::vector<std::string> body = {}) {
    req_.method = std::move(method);
    req_.target = "/x";
    req_.host = "example";
    req_.headers.add("Host", "example");
    size_t n = 0;
    for (auto& p : body) n += p.size();
    req_.body =
        body.empty() ? http::BodyFraming{} : http::BodyFraming{http::BodyKind::kContentLength, n};
    down_.pieces = std::move(body);
  }
  int index_of(const char* key) {
    for (size_t i = 0; i < cluster_->size(); ++i)
      if (cluster_->host(i).key == key) return int(i);
    return -1;
  }
  upstream::HostCounters& counters(const char* key) { return *stats_.hosts.at(key); }

  static rt::Task<void> drive(AttemptTest* t) {
    t->result_ = co_await run_tries(*t->ctx_, *t->attempt_, t->resp_);
    t->done_ = true;
  }
  // Runs the tries to the end (the fakes never wait, so this finishes at once).
  TryResult run() {
    transform_.emplace(req_, fwd_, "rid", trace_, span_);
    body_.emplace(down_, req_.body.kind != http::BodyKind::kNone);
    ctx_.emplace(TryContext{loop_, buffers_, connector_, *cluster_, lb_, req_, *transform_,
                            req_.body, *body_, spans_, loop_.now_ms() + deadline_ms_, 500, 500});
    if (retry_cfg_) policy_.emplace(&*retry_cfg_, idempotent_method(req_.method));
    ctx_->retry = policy_ ? &*policy_ : nullptr;
    ctx_->rng = &rng_;
    attempt_.emplace(*ctx_);
    rt::spawn(drive(this));
    // The fakes never wait; back-off sleeps do, so the clock moves on between turns.
    for (int i = 0; i < 40 && !done_; ++i) {
      loop_.run_once(0);
      clock_.advance_ms(step_ms_);
    }
    EXPECT_TRUE(done_);
    return result_;
  }

  std::optional<RequestBody> body_;
  Spans spans_;
  std::optional<TryContext> ctx_;
  std::optional<config::RetryPolicy> retry_cfg_;  // the route's retry:, when a test sets one
  std::optional<config::CircuitBreaker> breaker_;  // the cluster's limits, when a test sets them
  std::optional<RetryPolicy> policy_;
  SplitMix64 rng_{1};
  int64_t deadline_ms_ = 1000;
  int64_t step_ms_ = 0;  // clock advance per loop turn
  std::optional<Attempt> attempt_;
  http::ResponseHead resp_;
  TryResult result_;
  bool done_ = false;
};

TEST_F(AttemptTest, SuccessReturnsTheConnectionToThePool) {
  build({kA});
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok()) << try_cause_name(r.cause);
  EXPECT_EQ(resp_.status, 200);
  EXPECT_EQ(counters(kA).active_requests.get(), 1);  // held until the response is relayed
  ASSERT_TRUE(attempt_->codec().buffered_body());
  attempt_->finish(true);
  EXPECT_EQ(counters(kA).active_requests.get(), 0);
  EXPECT_EQ(cluster_->runtime(0).pool->idle(), 1u);
  EXPECT_TRUE(spans_.retries.empty());
}

TEST_F(AttemptTest, ConnectFailureMovesToAnotherHost) {
  build({kA, kB});
  connector_.connect_results[kA] = {std::errc::connection_refused};
  connector_.connect_results[kB] = {std::errc::connection_refused};
  request("POST", {"hello"});
  TryResult r = run();
  // Both were tried once, in balancer order; the second failure ends it (one move only).
  EXPECT_EQ(connector_.rec.connects.size(), 2u);
  EXPECT_NE(connector_.rec.connects[0], connector_.rec.connects[1]);
  EXPECT_EQ(r.cause, TryCause::kConnectRefused);
  EXPECT_EQ(spans_.retries, "connect-failure");
  EXPECT_EQ(stats_.connect_failures.get(), 2u);
  EXPECT_EQ(down_.reads, 0u) << "the body is not read before a connection exists";
}

TEST_F(AttemptTest, ConnectFailureThenSuccessOnTheOtherHost) {
  build({kA, kB});
  connector_.connect_results[kA] = {std::errc::timed_out};
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok()) << try_cause_name(r.cause);
  EXPECT_EQ(r.host, index_of(kB));
  // Whichever host the balancer picked first, the answer came from the one that connects.
  const bool a_first = connector_.rec.connects.front() == kA;
  EXPECT_EQ(spans_.retries, a_first ? "connect-failure" : "");
  EXPECT_EQ(connector_.rec.connects.size(), a_first ? 2u : 1u);
}

TEST_F(AttemptTest, SingleHostConnectFailureIsNotRetried) {
  build({kA});
  connector_.connect_results[kA] = {std::errc::connection_refused};
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kConnectRefused);
  EXPECT_EQ(connector_.rec.connects.size(), 1u);
  EXPECT_EQ(r.host, 0);
  EXPECT_FALSE(r.detail.empty());
}

TEST_F(AttemptTest, ReusedConnectionClosedBeforeResponseIsResentOnceOnAFreshOne) {
  build({kA});
  auto& pool = *cluster_->runtime(0).pool;
  ASSERT_TRUE(pool.reserve());
  pool.release(connector_.pooled(kA));
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset}, X{}};
  request("POST", {"he", "llo"});
  TryResult r = run();
  ASSERT_TRUE(r.ok()) << try_cause_name(r.cause);
  EXPECT_FALSE(r.reused);
  ASSERT_EQ(connector_.rec.exchanges_on.size(), 2u);
  EXPECT_NE(connector_.rec.exchanges_on[0], connector_.rec.exchanges_on[1]);
  EXPECT_EQ(connector_.rec.connects.size(), 1u) << "the re-send opens a fresh connection";
  // The body read once from the client went out whole on both connections.
  EXPECT_EQ(connector_.rec.bodies[0], "hello");
  EXPECT_EQ(connector_.rec.bodies[1], "hello");
  EXPECT_EQ(down_.reads, 2u);
  EXPECT_EQ(spans_.retries, "reused-connection-closed");
  EXPECT_EQ(stats_.reused_conn_resends.get(), 1u);
  EXPECT_EQ(stats_.reuses.get(), 1u);
}

TEST_F(AttemptTest, TheKeepAliveResendHappensOnlyOnce) {
  build({kA});
  auto& pool = *cluster_->runtime(0).pool;
  ASSERT_TRUE(pool.reserve());
  pool.release(connector_.pooled(kA));
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset},
                              X{.head = std::errc::connection_reset}};
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kResetBeforeResponse);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 2u);
  EXPECT_EQ(stats_.reused_conn_resends.get(), 1u);
  EXPECT_EQ(pool.open(), 0u) << "failed connections are closed, not pooled";
  EXPECT_EQ(counters(kA).active_requests.get(), 0);
  EXPECT_EQ(counters(kA).failures.get(), 2u);
}

TEST_F(AttemptTest, AFreshConnectionResetIsNotResent) {
  build({kA});
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset}};
  request("POST", {"x"});
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kResetBeforeResponse);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
  EXPECT_TRUE(r.request_complete);
}

TEST_F(AttemptTest, ResetAfterPartOfTheHeadIsNotAKeepAliveRace) {
  build({kA});
  auto& pool = *cluster_->runtime(0).pool;
  ASSERT_TRUE(pool.reserve());
  pool.release(connector_.pooled(kA));
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset, .response_started = true}};
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kResetDuringResponse);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
}

TEST_F(AttemptTest, ABodyTooLargeToKeepIsNotResent) {
  build({kA});
  auto& pool = *cluster_->runtime(0).pool;
  ASSERT_TRUE(pool.reserve());
  pool.release(connector_.pooled(kA));
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset}};
  request("POST", {std::string(RequestBody::kMaxKept, 'a'), "b"});
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kResetBeforeResponse);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
}

TEST_F(AttemptTest, ResponseTimeoutIsNotRetried) {
  build({kA, kB});
  connector_.exchanges[kA] = {X{.head = std::errc::timed_out}};
  connector_.exchanges[kB] = {X{.head = std::errc::timed_out}};
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kTimeout);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
  EXPECT_EQ(counters(connector_.rec.connects[0].c_str()).failures.get(), 1u);
}

TEST_F(AttemptTest, MalformedResponseIsBadResponse) {
  build({kA});
  connector_.exchanges[kA] = {X{.head = std::errc::bad_message, .response_started = true}};
  request("GET");
  EXPECT_EQ(run().cause, TryCause::kBadResponse);
}

TEST_F(AttemptTest, AnEarlyAnswerWhileSendingIsRelayed) {
  build({kA});
  connector_.exchanges[kA] = {X{.send = std::errc::broken_pipe, .status = 413}};
  request("POST", {"a", "b"});
  TryResult r = run();
  ASSERT_TRUE(r.ok()) << try_cause_name(r.cause);
  EXPECT_EQ(resp_.status, 413);
  EXPECT_FALSE(r.request_complete);
  attempt_->finish(true);
  EXPECT_EQ(cluster_->runtime(0).pool->idle(), 0u) << "a half-sent request's connection closes";
}

TEST_F(AttemptTest, ClientGoneMidBodyClosesTheUpstreamConnection) {
  build({kA});
  down_.error = std::errc::connection_reset;
  request("POST", {"part"});
  down_.error = std::errc::connection_reset;
  req_.body.length = 100;  // more was promised than arrives
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kClientGone);
  EXPECT_EQ(cluster_->runtime(0).pool->open(), 0u);
  EXPECT_EQ(counters(kA).active_requests.get(), 0);
  EXPECT_EQ(counters(kA).failures.get(), 0u) << "the client's failure is not the upstream's";
}

TEST_F(AttemptTest, StalledClientBodyIsTheClientsTimeout) {
  build({kA, kB});
  request("POST", {"12"});
  down_.error = std::errc::timed_out;
  req_.body.length = 6;
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kClientBodyTimeout);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u) << "no retry for the client's fault";
  EXPECT_EQ(cluster_->runtime(size_t(r.host)).pool->open(), 0u);
}

TEST_F(AttemptTest, PoolExhaustedFailsFast) {
  build({kA}, /*max_connections=*/0);
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kPoolExhausted);
  EXPECT_TRUE(connector_.rec.connects.empty());
}

TEST_F(AttemptTest, NoHostWhenEveryHostBacksOff) {
  build({kA});
  cluster_->on_connect_failure(0);
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kNoHost);
  EXPECT_EQ(r.host, -1);
  EXPECT_TRUE(connector_.rec.connects.empty());
}

TEST_F(AttemptTest, APooledConnectionIsReused) {
  build({kA});
  auto& pool = *cluster_->runtime(0).pool;
  ASSERT_TRUE(pool.reserve());
  pool.release(connector_.pooled(kA));
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.reused);
  EXPECT_TRUE(connector_.rec.connects.empty());
}

TEST_F(AttemptTest, AStalePooledConnectionIsSkippedAtCheckout) {
  build({kA});
  auto& pool = *cluster_->runtime(0).pool;
  ASSERT_TRUE(pool.reserve());
  auto c = connector_.pooled(kA);
  auto& stream = static_cast<testing::FakeStream&>(*c->stream);
  pool.release(std::move(c));
  stream.stale = true;  // the upstream closed it while it sat idle
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(connector_.rec.connects.size(), 1u);
  EXPECT_EQ(stats_.stale_closed.get(), 1u);
  EXPECT_EQ(stats_.reused_conn_resends.get(), 0u);
}

// ---- a route's retry policy ------------------------------------------------------------

config::RetryPolicy retry_on(int attempts, std::vector<std::string> on) {
  config::RetryPolicy c;
  c.attempts = attempts;
  c.retry_on = std::move(on);
  c.backoff_base = config::Duration(0);  // no back-off wait unless a test asks
  c.backoff_max = config::Duration(0);
  return c;
}

TEST_F(AttemptTest, RetriableStatusGoesToTheOtherHostAndTheTriesAreListed) {
  build({kA, kB});
  connector_.exchanges[kA] = {X{.status = 503}};
  connector_.exchanges[kB] = {X{.status = 503}};
  retry_cfg_ = retry_on(2, {"503"});
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(resp_.status, 503) << "both answered 503: the last answer is relayed";
  ASSERT_EQ(spans_.tries.size(), 2u);
  EXPECT_NE(spans_.tries[0].substr(2, 11), spans_.tries[1].substr(2, 11)) << "another host";
  EXPECT_EQ(spans_.tries[0].substr(spans_.tries[0].size() - 3), "503");
  EXPECT_EQ(spans_.retries, "503");
  EXPECT_EQ(stats_.retries[size_t(upstream::RetryCause::kStatus)].get(), 1u);
}

TEST_F(AttemptTest, RetriableStatusThenSuccess) {
  build({kA});
  connector_.exchanges[kA] = {X{.status = 503}, X{.status = 200}};
  retry_cfg_ = retry_on(3, {"5xx"});
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(resp_.status, 200);
  ASSERT_EQ(spans_.tries.size(), 2u);
  EXPECT_EQ(spans_.tries[0], std::string("1 ") + kA + " 503");
  EXPECT_EQ(spans_.tries[1], std::string("2 ") + kA + " 200");
}

TEST_F(AttemptTest, APostThatReachedTheUpstreamIsNotResent) {
  build({kA, kB});
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset}};
  connector_.exchanges[kB] = {X{.head = std::errc::connection_reset}};
  retry_cfg_ = retry_on(3, {"reset", "5xx"});
  request("POST", {"hello"});
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kResetBeforeResponse);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
}

TEST_F(AttemptTest, AGetThatReachedTheUpstreamIsResentWithItsBody) {
  build({kA, kB});
  connector_.exchanges[kA] = {X{.head = std::errc::connection_reset}};
  connector_.exchanges[kB] = {X{.head = std::errc::connection_reset}};
  retry_cfg_ = retry_on(2, {"reset"});
  request("PUT", {"hel", "lo"});
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kResetBeforeResponse);
  ASSERT_EQ(connector_.rec.bodies.size(), 2u);
  EXPECT_EQ(connector_.rec.bodies[0], "hello");
  EXPECT_EQ(connector_.rec.bodies[1], "hello") << "the body is replayed whole";
}

TEST_F(AttemptTest, TimeoutIsRetriedWhenListed) {
  build({kA});
  connector_.exchanges[kA] = {X{.head = std::errc::timed_out}, X{}};
  retry_cfg_ = retry_on(2, {"timeout"});
  retry_cfg_->per_try_timeout = config::Duration(100);
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok()) << try_cause_name(r.cause);
  EXPECT_EQ(stats_.retries[size_t(upstream::RetryCause::kTimeout)].get(), 1u);
  EXPECT_EQ(spans_.tries.front(), std::string("1 ") + kA + " timeout");
}

TEST_F(AttemptTest, TimeoutIsNotRetriedWhenNotListed) {
  build({kA});
  connector_.exchanges[kA] = {X{.head = std::errc::timed_out}, X{}};
  retry_cfg_ = retry_on(2, {"reset"});
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kTimeout);
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
}

TEST_F(AttemptTest, AnExhaustedBudgetReturnsTheLastError) {
  build({kA, kB});
  connector_.connect_results[kA] = {std::errc::connection_refused};
  connector_.connect_results[kB] = {std::errc::connection_refused};
  cluster_->retry_budget().configure(0, 0);
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kConnectRefused);
  EXPECT_EQ(connector_.rec.connects.size(), 1u) << "no retry without budget";
  EXPECT_EQ(stats_.retry_budget_exhausted.get(), 1u);
}

TEST_F(AttemptTest, MaxRetriesBoundsRetriesInFlight) {
  breaker_ = config::CircuitBreaker{};
  breaker_->max_retries = 0;  // no retry may be in flight
  build({kA, kB});
  connector_.connect_results[kA] = {std::errc::connection_refused};
  connector_.connect_results[kB] = {std::errc::connection_refused};
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kConnectRefused);
  EXPECT_EQ(connector_.rec.connects.size(), 1u) << "the retry was refused by max_retries";
  EXPECT_EQ(stats_.breaker_rejections[size_t(resilience::Limit::kMaxRetries)].get(), 1u);
  EXPECT_EQ(stats_.retry_budget_exhausted.get(), 0u) << "refused before the budget was asked";
  EXPECT_EQ(stats_.active_retries.get(), 0);
}

TEST_F(AttemptTest, NoTryStartsPastTheDeadline) {
  build({kA});
  deadline_ms_ = 0;
  request("GET");
  TryResult r = run();
  EXPECT_EQ(r.cause, TryCause::kTimeout);
  EXPECT_TRUE(connector_.rec.connects.empty());
  EXPECT_TRUE(connector_.rec.exchanges_on.empty());
}

TEST_F(AttemptTest, BackoffWaitsOnTheClockWithFullJitter) {
  build({kA});
  connector_.exchanges[kA] = {X{.status = 503}, X{.status = 503}, X{.status = 200}};
  retry_cfg_ = retry_on(3, {"503"});
  retry_cfg_->backoff_base = config::Duration(200);
  retry_cfg_->backoff_max = config::Duration(400);
  deadline_ms_ = 5000;
  step_ms_ = 10;  // the clock moves 10 ms per loop turn
  SplitMix64 twin(1);  // the same draws the attempt loop makes
  const int64_t w1 = resilience::backoff_ms(200, 400, 0, twin);
  const int64_t w2 = resilience::backoff_ms(200, 400, 1, twin);
  ASSERT_GT(w1 + w2, 0);
  const int64_t t0 = clock_.now_ms();
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(done_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(resp_.status, 200);
  EXPECT_EQ(spans_.tries.size(), 3u);
  EXPECT_GE(clock_.now_ms() - t0, w1 + w2) << "each retry waited its back-off";
}

TEST_F(AttemptTest, ARetryWhoseBackoffEndsPastTheDeadlineIsNotMade) {
  build({kA});
  connector_.exchanges[kA] = {X{.status = 503}, X{.status = 200}};
  retry_cfg_ = retry_on(3, {"503"});
  retry_cfg_->backoff_base = config::Duration(100000);
  retry_cfg_->backoff_max = config::Duration(100000);
  deadline_ms_ = 1000;
  SplitMix64 twin(1);
  ASSERT_GE(resilience::backoff_ms(100000, 100000, 0, twin), 1000) << "pick another seed";
  request("GET");
  TryResult r = run();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(resp_.status, 503) << "the last answer, at once";
  EXPECT_EQ(connector_.rec.exchanges_on.size(), 1u);
}

}  // namespace
}  // namespace cw::proxy
