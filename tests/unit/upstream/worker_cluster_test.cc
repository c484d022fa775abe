// WorkerCluster: per-host state carried across rebuilds by key (10,000 hosts), and availability
// pushed by events (connect failure + back-off timer, success, health messages) instead of a
// per-pick scan. Thread contract: single-threaded; timers fired by hand, the clock never moves.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster_fixture.h"
#include "upstream/cluster.h"

namespace cw::upstream {
namespace {

using testing::endpoint;
using testing::endpoint_set;
using testing::ids;

class WorkerClusterTest : public ::testing::Test {
 protected:
  std::shared_ptr<const ClusterSnapshot> snapshot(const std::string& lb,
                                                  const std::vector<int>& hosts) {
    std::string error;
    auto s = build_cluster(testing::cluster_config("api", lb), endpoint_set(hosts), nullptr, error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }
  std::unique_ptr<WorkerCluster> make(std::shared_ptr<const ClusterSnapshot> s,
                                      WorkerCluster* previous = nullptr) {
    return std::make_unique<WorkerCluster>(std::move(s), loop_, 7, previous, stats_, mu_);
  }
  // Hosts picked over n picks.
  static std::set<int> picked(WorkerCluster& c, int n, int exclude = -1) {
    std::set<int> out;
    for (int i = 0; i < n; ++i) {
      out.insert(c.pick(LbContext{true, hash_key(std::to_string(i))}, exclude));
    }
    return out;
  }

  // Time moves only when a test says so: the back-off timers fire on the loop's own wheel.
  void advance(int64_t ms) {
    clock_.advance_ms(ms);
    loop_.run_once(0);
  }

  rt::ManualClock clock_;
  rt::EventLoop loop_{&clock_};
  ClusterStats stats_;
  std::mutex mu_;
};

TEST_F(WorkerClusterTest, AConnectFailureTakesTheHostOutUntilItsBackoffTimerFires) {
  auto c = make(snapshot("round_robin", {0, 1, 2}));
  EXPECT_EQ(picked(*c, 30), (std::set<int>{0, 1, 2}));
  c->on_connect_failure(1);
  EXPECT_FALSE(c->available(1));
  EXPECT_FALSE(c->runtime(1).lb.available);
  EXPECT_EQ(picked(*c, 30), (std::set<int>{0, 2}));
  advance(999);
  EXPECT_FALSE(c->available(1));
  advance(1);  // the first back-off is 1 s
  EXPECT_TRUE(c->available(1));
  EXPECT_EQ(picked(*c, 30), (std::set<int>{0, 1, 2}));
  EXPECT_EQ(loop_.timers().size(), 0u);
}

TEST_F(WorkerClusterTest, TheBackoffDoublesWhileConnectsKeepFailing) {
  auto c = make(snapshot("round_robin", {0, 1}));
  c->on_connect_failure(0);
  advance(1000);
  ASSERT_TRUE(c->available(0));
  c->on_connect_failure(0);  // the second in a row: out for 2 s
  advance(1999);
  EXPECT_FALSE(c->available(0));
  advance(1);
  EXPECT_TRUE(c->available(0));
}

TEST_F(WorkerClusterTest, ASuccessEndsTheBackoffAndResetsTheDoubling) {
  auto c = make(snapshot("round_robin", {0, 1}));
  c->on_connect_failure(0);
  c->on_connect_failure(0);
  ASSERT_FALSE(c->available(0));
  c->on_connect_success(0);
  EXPECT_TRUE(c->available(0));
  EXPECT_EQ(c->runtime(0).down_until_ms, 0);
  EXPECT_EQ(loop_.timers().size(), 0u);  // the timer is cancelled, not left to fire
  c->on_connect_failure(0);
  EXPECT_EQ(c->runtime(0).down_until_ms, loop_.now_ms() + 1000);
}

TEST_F(WorkerClusterTest, HealthTakesAHostOutOfPicksAndBack) {
  auto c = make(snapshot("least_request", {0, 1, 2}));
  EXPECT_TRUE(c->set_host_health(endpoint(2).key, false));
  EXPECT_FALSE(c->available(2));
  EXPECT_EQ(picked(*c, 200), (std::set<int>{0, 1}));
  // The back-off ending does not bring an unhealthy host back.
  c->on_connect_failure(2);
  advance(1000);
  EXPECT_FALSE(c->available(2));
  c->set_host_health(2, true);
  EXPECT_TRUE(c->available(2));
  EXPECT_EQ(picked(*c, 200), (std::set<int>{0, 1, 2}));
  EXPECT_FALSE(c->set_host_health("10.9.9.9:1", false));
}

TEST_F(WorkerClusterTest, AllHostsDownPicksMinusOneUntilOneComesBack) {
  for (const char* lb : {"round_robin", "weighted_round_robin", "least_request", "peak_ewma",
                         "random", "ring_hash", "maglev"}) {
    auto c = make(snapshot(lb, {0, 1, 2}));
    c->on_connect_failure(0);
    c->on_connect_failure(1);
    c->set_host_health(2, false);
    EXPECT_EQ(picked(*c, 50), (std::set<int>{-1})) << lb;
    c->set_host_health(2, true);
    EXPECT_EQ(picked(*c, 50), (std::set<int>{2})) << lb;
    c->on_connect_success(0);
    c->on_connect_success(1);
  }
}

TEST_F(WorkerClusterTest, ExcludeSkipsAHostForThatPickOnly) {
  auto c = make(snapshot("round_robin", {0, 1}));
  EXPECT_EQ(picked(*c, 20, 0), (std::set<int>{1}));
  EXPECT_TRUE(c->available(0));
  EXPECT_EQ(picked(*c, 20), (std::set<int>{0, 1}));
  c->on_connect_failure(1);
  EXPECT_EQ(picked(*c, 20, 0), (std::set<int>{-1}));
  EXPECT_TRUE(c->available(0));
  EXPECT_EQ(picked(*c, 20, 7), (std::set<int>{0}));  // out of range: nothing excluded
}

// In-flight counts are read from the worker's stats shard, which outlives generations: a
// request that started under the old view still weighs on the new view's choices.
TEST_F(WorkerClusterTest, LeastRequestSeesInFlightCountsAcrossARebuild) {
  auto a = make(snapshot("least_request", {0, 1}));
  a->runtime(0).counters->active_requests.add(5);  // five requests in flight on host 0
  std::string error;
  auto b = make(with_endpoints(a->snapshot(), endpoint_set({1, 0}, 2), error), a.get());
  a.reset();  // the old view is gone; its requests are not
  ASSERT_EQ(b->find(endpoint(0).key), 1);
  EXPECT_EQ(picked(*b, 200), (std::set<int>{0}));  // host 1 is now at position 0
  b->runtime(1).counters->active_requests.add(-5);
  b->runtime(0).counters->active_requests.add(5);
  EXPECT_EQ(picked(*b, 200), (std::set<int>{1}));
}

TEST_F(WorkerClusterTest, BackoffHealthAndLatencySurviveARebuild) {
  auto a = make(snapshot("peak_ewma", {0, 1, 2}));
  a->on_connect_failure(0);
  a->set_host_health(1, false);
  record_latency(a->runtime(2).lb, 5'000'000, 1'000'000'000);
  std::string error;
  auto b = make(with_endpoints(a->snapshot(), endpoint_set({2, 1, 0, 3}, 2), error), a.get());
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->available(2));  // host 0: backing off
  EXPECT_EQ(b->runtime(2).consecutive_connect_failures, 1);
  EXPECT_FALSE(b->available(1));  // host 1: unhealthy
  EXPECT_TRUE(b->available(0));
  EXPECT_EQ(b->runtime(0).lb.ewma_rtt_ns, 5e6);
  EXPECT_TRUE(b->available(3));
  EXPECT_EQ(b->runtime(3).lb.ewma_rtt_ns, 0);
  a.reset();                             // cancels the old view's timer
  EXPECT_EQ(loop_.timers().size(), 1u);  // the new view's own
  advance(1000);
  EXPECT_TRUE(b->available(2));
}

TEST_F(WorkerClusterTest, DestroyingAViewCancelsItsTimers) {
  auto c = make(snapshot("round_robin", {0, 1, 2}));
  c->on_connect_failure(0);
  c->on_connect_failure(2);
  EXPECT_EQ(loop_.timers().size(), 2u);
  c.reset();
  EXPECT_EQ(loop_.timers().size(), 0u);
  advance(60'000);  // nothing left to touch freed memory
}

TEST_F(WorkerClusterTest, AKeyAtANewAddressStartsFresh) {
  auto a = make(snapshot("round_robin", {0, 1}));
  a->on_connect_failure(0);
  EndpointSet moved = endpoint_set({0, 1}, 2);
  moved.endpoints[0].address = endpoint(50).address;
  std::string error;
  auto b = make(with_endpoints(a->snapshot(), moved, error), a.get());
  EXPECT_TRUE(b->available(0));
  EXPECT_NE(b->runtime(0).pool, a->runtime(0).pool);  // its connections go elsewhere
  EXPECT_EQ(b->runtime(1).pool, a->runtime(1).pool);
}

// 10,000 hosts, reversed, every tenth dropped, 1,000 added: survivors keep their pool, counters
// and state; removed hosts' pools are not carried; new hosts get new pools. A quadratic match
// would be 10^8 key comparisons per rebuild.
TEST_F(WorkerClusterTest, TenThousandHostsCarryTheirStateByKey) {
  constexpr int kHosts = 10000;
  auto a = make(snapshot("round_robin", ids(0, kHosts)));
  for (int i = 1; i < kHosts; i += 7) a->on_connect_failure(size_t(i));
  std::vector<int> next;
  for (int i = kHosts - 1; i >= 0; --i) {
    if (i % 10 != 0) next.push_back(i);
  }
  for (int i = kHosts; i < kHosts + 1000; ++i) next.push_back(i);
  std::string error;
  auto b = make(with_endpoints(a->snapshot(), endpoint_set(next, 2), error), a.get());
  ASSERT_EQ(b->size(), next.size());
  std::set<const ConnPool*> old_pools;
  for (size_t i = 0; i < a->size(); ++i) old_pools.insert(a->runtime(i).pool.get());
  for (size_t p = 0; p < next.size(); ++p) {
    const int id = next[p];
    HostRuntime& h = b->runtime(p);
    ASSERT_EQ(b->find(endpoint(id).key), int(p));
    if (id < kHosts) {
      ASSERT_EQ(h.pool, a->runtime(size_t(id)).pool) << id;
      ASSERT_EQ(h.counters, a->runtime(size_t(id)).counters) << id;
      ASSERT_EQ(b->available(p), id % 7 != 1) << id;
    } else {
      ASSERT_NE(h.pool, nullptr);
      ASSERT_EQ(old_pools.count(h.pool.get()), 0u) << id;
      ASSERT_TRUE(b->available(p)) << id;
    }
  }
  for (int i = 0; i < kHosts; i += 10) ASSERT_EQ(b->shared_pool(endpoint(i).key), nullptr);
  EXPECT_EQ(stats_.hosts.size(), size_t(kHosts + 1000));  // the shard keeps every key seen
}

}  // namespace
}  // namespace cw::upstream
