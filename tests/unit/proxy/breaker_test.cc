// Circuit-breaker limits and the pool queue as tries meet them (attempt.cc): max_requests and
// max_connections refuse with kOverflow naming the limit; a full pool queues the try (FIFO),
// bounded by max_pending, until a connection comes back or pool.queue_timeout / the route
// deadline passes; max_retries for the retry loop; per-worker shares. Fakes for the upstream,
// a ManualClock for time: no sockets, no sleeps.
// Thread contract: single-threaded.
#include <gtest/gtest.h>

#include <list>
#include <mutex>

#include "fakes.h"
#include "try_world.h"
#include "proxy/attempt.h"
#include "proxy/request_headers.h"
#include "upstream/cluster.h"

namespace cw::proxy {
namespace {

using resilience::Limit;
using testing::FakeConnector;
using testing::FakeDownstream;

constexpr const char* kA = "10.0.0.1:80";

class BreakerTest : public ::testing::Test, protected testing::TryWorld {
 protected:
  BreakerTest() {
    req_.method = "GET";
    req_.target = "/x";
    req_.host = "example";
    req_.headers.add("Host", "example");
    transform_.emplace(req_, fwd_, "rid", trace_, span_);
  }

  void build(config::CircuitBreaker b, size_t pool_max = 16, int64_t queue_ms = 1000,
             int workers = 1) {
    config::Cluster c;
    c.name = "api";
    c.pool.max_connections = pool_max;
    c.pool.queue_timeout = config::Duration(queue_ms);
    c.circuit_breaker = b;
    c.endpoints.push_back({{"10.0.0.1", 80}, 1});
    std::string err;
    snap_ = upstream::build_cluster(c, nullptr, err);
    ASSERT_TRUE(snap_) << err;
    cluster_ =
        std::make_unique<upstream::WorkerCluster>(snap_, loop_, 1, nullptr, stats_, mu_, workers);
  }
  static config::CircuitBreaker limits(uint32_t connections, uint32_t pending, uint32_t requests,
                                       uint32_t retries = 3) {
    config::CircuitBreaker b;
    b.max_connections = connections;
    b.max_pending = pending;
    b.max_requests = requests;
    b.max_retries = retries;
    return b;
  }

  // One try in flight: its own body, spans and attempt, sharing the cluster and the fakes.
  struct Try {
    Try(BreakerTest& t, int64_t route_ms)
        : body(t.down_, false),
          ctx{t.loop_,
              t.buffers_,
              t.connector_,
              *t.cluster_,
              t.lb_,
              t.req_,
              *t.transform_,
              t.req_.body,
              body,
              spans,
              t.loop_.now_ms() + route_ms,
              500,
              500},
          attempt(ctx) {}
    RequestBody body;
    Spans spans;
    TryContext ctx;
    Attempt attempt;
    http::ResponseHead resp;
    TryResult result;
    bool done = false;
  };
  static rt::Task<void> drive(Try* t) {
    t->result = co_await t->attempt.run({}, t->resp);
    t->done = true;
  }
  // Starts a try and turns the loop once: it either finished or is queued.
  Try& start(int64_t route_ms = 15000) {
    Try& t = tries_.emplace_back(*this, route_ms);
    rt::spawn(drive(&t));
    loop_.run_once(0);
    return t;
  }
  void turn() { loop_.run_once(0); }
  // The response was relayed in full: the connection goes back to the pool.
  static void relay(Try& t) {
    (void)t.attempt.codec().buffered_body();
    t.attempt.finish(true);
  }
  uint64_t rejections(Limit l) const { return stats_.breaker_rejections[size_t(l)].get(); }

  std::list<Try> tries_;  // stable addresses: the coroutines point at them
};

TEST_F(BreakerTest, MaxRequestsRefusesTheTryBeyondTheLimit) {
  build(limits(1024, 1024, 2));
  Try& a = start();
  Try& b = start();
  ASSERT_TRUE(a.done && a.result.ok() && b.done && b.result.ok());
  EXPECT_EQ(stats_.active_requests.get(), 2);
  Try& c = start();
  ASSERT_TRUE(c.done);
  EXPECT_EQ(c.result.cause, TryCause::kOverflow);
  EXPECT_EQ(c.result.limit, Limit::kMaxRequests);
  EXPECT_EQ(rejections(Limit::kMaxRequests), 1u);
  EXPECT_EQ(connector_.rec.connects.size(), 2u) << "a refused try costs no connect";
  relay(a);  // a's response relayed: room for one more
  EXPECT_EQ(stats_.active_requests.get(), 1);
  Try& d = start();
  EXPECT_TRUE(d.done && d.result.ok());
  EXPECT_EQ(connector_.rec.connects.size(), 2u) << "d reused a's connection";
}

TEST_F(BreakerTest, MaxConnectionsRefusesANewConnectionButNotAPooledOne) {
  build(limits(1, 1024, 1024));
  Try& a = start();
  ASSERT_TRUE(a.done && a.result.ok());
  Try& b = start();
  ASSERT_TRUE(b.done);
  EXPECT_EQ(b.result.cause, TryCause::kOverflow);
  EXPECT_EQ(b.result.limit, Limit::kMaxConnections);
  EXPECT_EQ(rejections(Limit::kMaxConnections), 1u);
  relay(a);  // back in the pool, idle: still one open connection
  Try& c = start();
  EXPECT_TRUE(c.done && c.result.ok()) << try_cause_name(c.result.cause);
  EXPECT_TRUE(c.result.reused);
  EXPECT_EQ(connector_.rec.connects.size(), 1u);
}

TEST_F(BreakerTest, AFullPoolQueuesTheTryUntilAConnectionComesBack) {
  build(limits(1024, 1024, 1024), /*pool_max=*/1);
  Try& a = start();
  ASSERT_TRUE(a.done && a.result.ok());
  Try& b = start();
  Try& c = start();
  EXPECT_FALSE(b.done);
  EXPECT_FALSE(c.done);
  EXPECT_EQ(stats_.pending.get(), 2);
  EXPECT_EQ(stats_.hosts.at(kA)->pending.get(), 2);
  EXPECT_EQ(stats_.pool_exhausted.get(), 2u);
  clock_.advance_ms(300);
  turn();
  relay(a);  // the connection goes straight to b, the first in line
  turn();
  ASSERT_TRUE(b.done);
  EXPECT_TRUE(b.result.ok()) << try_cause_name(b.result.cause);
  EXPECT_TRUE(b.result.reused);
  EXPECT_FALSE(c.done);
  relay(b);
  turn();
  ASSERT_TRUE(c.done);
  EXPECT_TRUE(c.result.ok());
  EXPECT_EQ(connector_.rec.connects.size(), 1u) << "one connection served all three";
  EXPECT_EQ(stats_.pending.get(), 0);
  EXPECT_EQ(stats_.hosts.at(kA)->pending.get(), 0);
  EXPECT_EQ(stats_.queue_wait.count(), 2u);
  EXPECT_GT(b.spans.queue_ns, 0);
  EXPECT_NE(b.spans.server_timing().find("queue;dur="), std::string::npos);
  EXPECT_EQ(a.spans.server_timing().find("queue;dur="), std::string::npos);
}

TEST_F(BreakerTest, AFullQueueIsAnImmediateOverflowNamingMaxPending) {
  build(limits(1024, 1, 1024), /*pool_max=*/1);
  Try& a = start();
  Try& b = start();
  ASSERT_TRUE(a.done && !b.done);
  Try& c = start();
  ASSERT_TRUE(c.done);
  EXPECT_EQ(c.result.cause, TryCause::kOverflow);
  EXPECT_EQ(c.result.limit, Limit::kMaxPending);
  EXPECT_EQ(rejections(Limit::kMaxPending), 1u);
  EXPECT_EQ(stats_.pending.get(), 1);
  relay(a);
  turn();
  EXPECT_TRUE(b.done && b.result.ok());
}

TEST_F(BreakerTest, MaxPendingZeroMeansNoQueue) {
  build(limits(1024, 0, 1024), /*pool_max=*/1);
  start();
  Try& b = start();
  ASSERT_TRUE(b.done);
  EXPECT_EQ(b.result.limit, Limit::kMaxPending);
}

TEST_F(BreakerTest, TheQueueTimeoutEndsTheWaitWithPoolExhausted) {
  build(limits(1024, 1024, 1024), /*pool_max=*/1, /*queue_ms=*/250);
  start();
  Try& b = start();
  clock_.advance_ms(249);
  turn();
  EXPECT_FALSE(b.done);
  clock_.advance_ms(1);
  turn();
  ASSERT_TRUE(b.done);
  EXPECT_EQ(b.result.cause, TryCause::kPoolExhausted);
  EXPECT_NE(b.result.detail.find("250ms in the pool queue"), std::string::npos) << b.result.detail;
  EXPECT_EQ(stats_.queue_timeouts.get(), 1u);
  EXPECT_EQ(stats_.pending.get(), 0);
  EXPECT_EQ(stats_.active_requests.get(), 1) << "the timed-out try holds nothing";
}

TEST_F(BreakerTest, TheQueueWaitNeverOutlastsTheRouteDeadline) {
  build(limits(1024, 1024, 1024), /*pool_max=*/1, /*queue_ms=*/5000);
  start();
  Try& b = start(/*route_ms=*/100);
  clock_.advance_ms(100);
  turn();
  ASSERT_TRUE(b.done);
  EXPECT_EQ(b.result.cause, TryCause::kPoolExhausted);
}

TEST_F(BreakerTest, QueueTimeoutZeroAnswersAtOnceAsBefore) {
  build(limits(1024, 1024, 1024), /*pool_max=*/1, /*queue_ms=*/0);
  start();
  Try& b = start();
  ASSERT_TRUE(b.done);
  EXPECT_EQ(b.result.cause, TryCause::kPoolExhausted);
  EXPECT_EQ(stats_.pending.get(), 0);
}

TEST_F(BreakerTest, AFreedSlotGoesToTheQueuedTryWhichConnects) {
  build(limits(1024, 1024, 1024), /*pool_max=*/1);
  Try& a = start();
  Try& b = start();
  a.attempt.finish(false);  // not reusable: closed, its slot goes to b
  turn();
  ASSERT_TRUE(b.done);
  EXPECT_TRUE(b.result.ok());
  EXPECT_FALSE(b.result.reused);
  EXPECT_EQ(connector_.rec.connects.size(), 2u);
}

TEST_F(BreakerTest, EachWorkerEnforcesItsShare) {
  build(limits(1024, 1024, /*requests=*/4), 16, 1000, /*workers=*/2);
  EXPECT_EQ(cluster_->limits().share(Limit::kMaxRequests), 2u);
  start();
  start();
  Try& c = start();
  EXPECT_EQ(c.result.limit, Limit::kMaxRequests);
  EXPECT_EQ(cluster_->limits().configured(Limit::kMaxRequests), 4u);
}

TEST_F(BreakerTest, MaxRetriesAdmitsRetriesInFlightUpToTheLimit) {
  build(limits(1024, 1024, 1024, /*retries=*/1));
  GaugeHold first, second;
  EXPECT_TRUE(cluster_->try_admit_retry(first));
  EXPECT_TRUE(cluster_->try_admit_retry(first)) << "the same request's next retry is counted once";
  EXPECT_FALSE(cluster_->try_admit_retry(second));
  EXPECT_EQ(rejections(Limit::kMaxRetries), 1u);
  EXPECT_EQ(stats_.active_retries.get(), 1);
  first.release();
  EXPECT_TRUE(cluster_->try_admit_retry(second));
}

}  // namespace
}  // namespace cw::proxy
