// WorkerCluster with outlier detection, the per-host breaker, panic mode and slow start: an
// ejected host leaves picks and its timer brings it back; a breaker opens, goes half-open and
// admits a bounded number of probes; too few fit hosts spread picks over all; a new host ramps
// up. Thread contract: single-threaded; timers fire on the loop's wheel as a ManualClock moves.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster_fixture.h"
#include "upstream/cluster.h"

namespace cw::upstream {
namespace {

using resilience::BreakerState;
using resilience::Outcome;
using testing::endpoint;
using testing::endpoint_set;

class WorkerClusterResilienceTest : public ::testing::Test {
 protected:
  std::shared_ptr<const ClusterSnapshot> snapshot(const config::Cluster& cfg,
                                                  const std::vector<int>& hosts) {
    std::string error;
    auto s = build_cluster(cfg, endpoint_set(hosts), nullptr, error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }
  std::unique_ptr<WorkerCluster> make(std::shared_ptr<const ClusterSnapshot> s,
                                      WorkerCluster* previous = nullptr) {
    return std::make_unique<WorkerCluster>(std::move(s), loop_, 7, previous, stats_, mu_);
  }
  static std::set<int> picked(WorkerCluster& c, int n) {
    std::set<int> out;
    for (int i = 0; i < n; ++i) out.insert(c.pick(LbContext{}));
    return out;
  }
  static std::map<int, int> counts(WorkerCluster& c, int n) {
    std::map<int, int> out;
    for (int i = 0; i < n; ++i) ++out[c.pick(LbContext{})];
    return out;
  }
  static void fail(WorkerCluster& c, size_t host, int n) {
    for (int i = 0; i < n; ++i) c.on_try_outcome(host, Outcome::kGatewayFailure);
  }
  void advance(int64_t ms) {
    clock_.advance_ms(ms);
    loop_.run_once(0);
  }
  HostCounters& counters(int i) { return *stats_.hosts.at(endpoint(i).key); }

  rt::ManualClock clock_;
  rt::EventLoop loop_{&clock_};
  ClusterStats stats_;
  std::mutex mu_;
};

config::Cluster cfg(const std::string& lb = "round_robin") {
  return testing::cluster_config("api", lb);
}

TEST_F(WorkerClusterResilienceTest, AnEjectedHostLeavesPicksUntilItsTimerBringsItBack) {
  auto c = make(snapshot(cfg(), {0, 1, 2}));
  fail(*c, 1, 4);
  EXPECT_TRUE(c->available(1));
  fail(*c, 1, 1);  // the fifth gateway failure in a row
  EXPECT_FALSE(c->available(1));
  EXPECT_TRUE(c->outlier().host(1).ejected);
  EXPECT_EQ(picked(*c, 30), (std::set<int>{0, 2}));
  EXPECT_EQ(counters(1).ejected.get(), 1);
  EXPECT_EQ(counters(1).times_ejected.get(), 1);
  EXPECT_EQ(
      counters(1).ejections[size_t(resilience::EjectReason::kConsecutiveGatewayFailure)].get(), 1u);
  EXPECT_GT(counters(1).ejected_until_wall_ms.get(), 0);
  advance(29999);
  EXPECT_FALSE(c->available(1));
  advance(1);  // base_ejection_time 30 s
  EXPECT_TRUE(c->available(1));
  EXPECT_EQ(counters(1).ejected.get(), 0);
  EXPECT_EQ(picked(*c, 30), (std::set<int>{0, 1, 2}));
}

TEST_F(WorkerClusterResilienceTest, TheEjectionHookHearsEjectionAndItsEnd) {
  auto c = make(snapshot(cfg(), {0, 1, 2}));
  std::vector<std::string> heard;
  const upstream::WorkerCluster::EjectionHook hook = [&](const std::string& cluster,
                                                         const std::string& key, bool ejected) {
    heard.push_back(cluster + " " + key + (ejected ? " out" : " back"));
  };
  c->set_ejection_hook(&hook);
  fail(*c, 1, 5);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0], "api " + c->snapshot().hosts[1]->key + " out");
  advance(30000);
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[1], "api " + c->snapshot().hosts[1]->key + " back");
}

TEST_F(WorkerClusterResilienceTest, MaxEjectionPercentKeepsTheSecondBadHostIn) {
  config::Cluster k = cfg();
  k.circuit_breaker.emplace().host.consecutive_failures = 0;  // its breaker would open
  auto c = make(snapshot(k, {0, 1, 2}));
  fail(*c, 0, 5);
  fail(*c, 1, 20);
  EXPECT_FALSE(c->available(0));
  EXPECT_TRUE(c->available(1));  // 1 of 3 ejected is already over 10%
  EXPECT_EQ(c->outlier().ejected_count(), 1u);
}

TEST_F(WorkerClusterResilienceTest, DisabledDetectionEjectsNothing) {
  config::Cluster k = cfg();
  k.outlier_detection.emplace().enabled = false;
  k.circuit_breaker.emplace().host.consecutive_failures = 0;
  auto c = make(snapshot(k, {0, 1, 2}));
  fail(*c, 1, 50);
  EXPECT_TRUE(c->available(1));
  EXPECT_EQ(loop_.timers().size(), 0u);  // no interval timer either
}

TEST_F(WorkerClusterResilienceTest, PanicModeSpreadsOverAllHostsWhenTooFewAreFit) {
  auto c = make(snapshot(cfg(), {0, 1, 2, 3}));
  c->set_host_health(0, false);
  c->set_host_health(1, false);  // 2 of 4 fit: exactly 50%, not below
  EXPECT_FALSE(c->in_panic());
  EXPECT_EQ(picked(*c, 40), (std::set<int>{2, 3}));
  c->set_host_health(2, false);  // 1 of 4: panic
  EXPECT_TRUE(c->in_panic());
  EXPECT_EQ(stats_.panic.get(), 1);
  EXPECT_EQ(stats_.panics.get(), 1u);
  EXPECT_EQ(picked(*c, 40), (std::set<int>{0, 1, 2, 3}));
  // A host backing off from connect failures stays out even in panic.
  c->on_connect_failure(0);
  EXPECT_EQ(picked(*c, 40), (std::set<int>{1, 2, 3}));
  c->set_host_health(1, true);
  EXPECT_FALSE(c->in_panic());
  EXPECT_EQ(stats_.panic.get(), 0);
  EXPECT_EQ(picked(*c, 40), (std::set<int>{1, 3}));
}

TEST_F(WorkerClusterResilienceTest, EveryHostEjectedOrBrokenStillServesInPanic) {
  config::Cluster k = cfg();
  k.outlier_detection.emplace().max_ejection_percent = 100;
  auto c = make(snapshot(k, {0, 1}));
  fail(*c, 0, 5);
  fail(*c, 1, 5);
  EXPECT_TRUE(c->outlier().host(0).ejected && c->outlier().host(1).ejected);
  EXPECT_TRUE(c->in_panic());
  EXPECT_EQ(picked(*c, 20), (std::set<int>{0, 1}));
  k.panic_threshold = 0;  // panic off: no host at all
  auto d = make(snapshot(k, {0, 1}));
  fail(*d, 0, 5);
  fail(*d, 1, 5);
  EXPECT_EQ(picked(*d, 20), (std::set<int>{-1}));
}

TEST_F(WorkerClusterResilienceTest, BreakerOpensThenHalfOpenAdmitsOneProbe) {
  config::Cluster k = cfg();
  k.outlier_detection.emplace().enabled = false;  // the breaker alone
  auto c = make(snapshot(k, {0, 1, 2}));
  fail(*c, 2, 5);
  EXPECT_EQ(c->runtime(2).breaker.state(), BreakerState::kOpen);
  EXPECT_FALSE(c->available(2));
  EXPECT_EQ(counters(2).breaker_opens.get(), 1u);
  EXPECT_EQ(counters(2).breaker_state.get(), int64_t(BreakerState::kOpen));
  advance(10000);  // open_time
  EXPECT_EQ(c->runtime(2).breaker.state(), BreakerState::kHalfOpen);
  EXPECT_TRUE(c->available(2));
  // Round robin reaches host 2 within three picks; that pick is the one probe allowed.
  std::set<int> got = picked(*c, 3);
  EXPECT_TRUE(got.count(2));
  EXPECT_FALSE(c->available(2));
  EXPECT_EQ(picked(*c, 30), (std::set<int>{0, 1}));
  c->on_try_outcome(2, Outcome::kSuccess);  // the probe answered: closed
  EXPECT_EQ(c->runtime(2).breaker.state(), BreakerState::kClosed);
  EXPECT_TRUE(c->available(2));
  EXPECT_EQ(counters(2).breaker_state.get(), int64_t(BreakerState::kClosed));
}

TEST_F(WorkerClusterResilienceTest, AFailedProbeReopensTheBreakerForLonger) {
  config::Cluster k = cfg();
  k.outlier_detection.emplace().enabled = false;
  auto c = make(snapshot(k, {0, 1, 2}));
  fail(*c, 0, 5);
  advance(10000);
  ASSERT_TRUE(c->available(0));
  c->pick(LbContext{});  // round robin starts at host 0: the probe
  c->on_try_outcome(0, Outcome::kGatewayFailure);
  EXPECT_EQ(c->runtime(0).breaker.state(), BreakerState::kOpen);
  advance(19999);
  EXPECT_FALSE(c->available(0));
  advance(1);
  EXPECT_TRUE(c->available(0));
}

TEST_F(WorkerClusterResilienceTest, EjectionAndBreakerSurviveARebuild) {
  auto a = make(snapshot(cfg(), {0, 1, 2}));
  fail(*a, 1, 5);  // ejected (and its breaker open)
  std::string error;
  auto b = make(with_endpoints(a->snapshot(), endpoint_set({2, 1, 0}, 2), error), a.get());
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->available(1));
  EXPECT_TRUE(b->outlier().host(1).ejected);
  EXPECT_EQ(b->runtime(1).breaker.state(), BreakerState::kOpen);
  a.reset();
  advance(30000);
  EXPECT_TRUE(b->available(1));
}

TEST_F(WorkerClusterResilienceTest, SlowStartRampsANewHostsShare) {
  config::Cluster k = cfg("random");
  k.slow_start.emplace();  // 30 s from 10%
  auto a = make(snapshot(k, {0, 1}));
  // At first start nobody ramps.
  EXPECT_EQ(a->runtime(0).slow_start_since_ms, 0);
  std::string error;
  auto b = make(with_endpoints(a->snapshot(), endpoint_set({0, 1, 2}, 2), error), a.get());
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b->runtime(2).slow_start_since_ms, 0);
  EXPECT_EQ(b->runtime(0).slow_start_since_ms, 0);
  auto n = counts(*b, 30000);
  // Full share would be ~10000; at 10% weight about a tenth of that.
  EXPECT_GT(n[2], 800);
  EXPECT_LT(n[2], 2500);
  advance(15000);  // halfway: 55%
  n = counts(*b, 30000);
  EXPECT_GT(n[2], 4500);
  EXPECT_LT(n[2], 6500);
  advance(15000);
  n = counts(*b, 30000);
  EXPECT_GT(n[2], 9000);
  EXPECT_EQ(b->runtime(2).slow_start_since_ms, 0);  // done ramping
}

TEST_F(WorkerClusterResilienceTest, AHostBackFromEjectionRampsUp) {
  config::Cluster k = cfg("random");
  k.slow_start.emplace();
  auto c = make(snapshot(k, {0, 1, 2}));
  fail(*c, 0, 5);
  EXPECT_EQ(c->runtime(0).slow_start_since_ms, 0);
  advance(30000);
  ASSERT_TRUE(c->available(0));
  EXPECT_NE(c->runtime(0).slow_start_since_ms, 0);
  auto n = counts(*c, 30000);
  EXPECT_LT(n[0], 2500);
}

}  // namespace
}  // namespace cw::upstream
