// The health monitor on a real loop with short intervals: verdicts reach the sink and the
// snapshot's Host, updates keep kept hosts' state and drop removed ones, checks turned off put
// hosts back in service, stop() ends every probe.
#include "health/monitor.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace cw::health {
namespace {

using Verdict = std::tuple<std::string, std::string, bool>;

// Turns the loop until cond() holds or max_ms pass (run_once: no stop flag to reset).
void run_until(rt::EventLoop& loop, const std::function<bool()>& cond, int64_t max_ms = 3000) {
  loop.refresh_now();
  const int64_t end = loop.now_ms() + max_ms;
  while (!cond() && loop.now_ms() < end) loop.run_once(1);
}

struct Fixture {
  rt::EventLoop loop;
  rt::TcpListener up;  // accepts (from its backlog): a TCP check passes
  std::string up_key, down_key;
  std::vector<Verdict> verdicts;
  HealthMonitor monitor{loop,
                        [this](const std::string& c, const std::string& k, bool h) {
                          verdicts.emplace_back(c, k, h);
                        },
                        42};

  Fixture() {
    up = std::move(*rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0")));
    up_key = up.local_address().text();
    auto gone = rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0"));
    down_key = gone->local_address().text();  // closed at the end of this scope: refused
  }
  ~Fixture() {
    monitor.stop();
    run_until(loop, [this] { return monitor.idle(); });
    up.close();
    loop.run_deferred();
  }

  static config::Endpoint endpoint(const std::string& key) {
    const size_t colon = key.rfind(':');
    return {config::Address{key.substr(0, colon), uint16_t(std::stoi(key.substr(colon + 1)))}, 1};
  }
  std::shared_ptr<const upstream::ClusterSnapshot> cluster(
      std::vector<std::string> keys, bool checks,
      const upstream::ClusterSnapshot* previous = nullptr, int64_t interval_ms = 10) {
    config::Cluster c;
    c.name = "web";
    for (const auto& k : keys) c.endpoints.push_back(endpoint(k));
    if (checks) {
      config::HealthCheck hc;  // TCP
      hc.interval = config::Duration(interval_ms);
      hc.timeout = config::Duration(200);
      hc.unhealthy_threshold = 2;
      hc.healthy_threshold = 2;
      c.health_check = hc;
    }
    std::string err;
    auto s = upstream::build_cluster(c, previous, err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  bool heard(const std::string& key, bool healthy) const {
    for (const auto& [c, k, h] : verdicts) {
      if (k == key && h == healthy) return true;
    }
    return false;
  }
  const HostHealth* host(const std::string& key) const { return monitor.host("web", key); }
};

TEST(HealthMonitor, DownHostIsMarkedAtItsFirstCheckAndPublished) {
  Fixture f;
  auto snap = f.cluster({f.up_key, f.down_key}, true);
  f.monitor.update({snap});
  ASSERT_TRUE(f.monitor.checks("web"));
  run_until(f.loop, [&] {
    return f.heard(f.down_key, false) && f.host(f.up_key)->state.checks() >= 2;
  });
  EXPECT_TRUE(f.heard(f.down_key, false));
  EXPECT_FALSE(f.heard(f.up_key, false));
  EXPECT_FALSE(f.heard(f.up_key, true));  // unchecked -> healthy: it served all along
  EXPECT_EQ(f.host(f.up_key)->state.verdict(), resilience::HealthVerdict::kHealthy);
  EXPECT_EQ(f.host(f.down_key)->state.verdict(), resilience::HealthVerdict::kUnhealthy);
  EXPECT_FALSE(snap->hosts[1]->healthy.load());
  EXPECT_TRUE(snap->hosts[0]->healthy.load());
  EXPECT_EQ(f.host(f.down_key)->last.error.rfind("connect: ", 0), 0u);
  EXPECT_GE(f.host(f.down_key)->failures_total, 1u);
}

TEST(HealthMonitor, UpdateKeepsKeptHostsAndDropsRemovedOnes) {
  Fixture f;
  auto snap = f.cluster({f.up_key, f.down_key}, true);
  f.monitor.update({snap});
  run_until(f.loop, [&] { return f.host(f.down_key)->state.consecutive_failures() >= 3; });
  const uint64_t failed = f.host(f.down_key)->failures_total;
  ASSERT_GE(failed, 3u);

  // A reload that keeps both (a new weight for the down one would make a new Host object).
  auto again = f.cluster({f.down_key, f.up_key}, true, snap.get());
  f.monitor.update({again});
  EXPECT_GE(f.host(f.down_key)->failures_total, failed);  // same state, not a fresh probe
  EXPECT_EQ(f.host(f.down_key)->state.verdict(), resilience::HealthVerdict::kUnhealthy);
  EXPECT_FALSE(again->hosts[0]->healthy.load());

  // The down host leaves the cluster: its probe goes with it.
  auto fewer = f.cluster({f.up_key}, true, again.get());
  f.monitor.update({fewer});
  EXPECT_EQ(f.host(f.down_key), nullptr);
  ASSERT_NE(f.host(f.up_key), nullptr);
}

TEST(HealthMonitor, ChecksTurnedOffPutHostsBackInService) {
  Fixture f;
  auto snap = f.cluster({f.up_key, f.down_key}, true);
  f.monitor.update({snap});
  run_until(f.loop, [&] { return f.heard(f.down_key, false); });
  ASSERT_TRUE(f.heard(f.down_key, false));

  auto off = f.cluster({f.up_key, f.down_key}, false, snap.get());
  f.monitor.update({off});
  EXPECT_FALSE(f.monitor.checks("web"));
  EXPECT_TRUE(f.heard(f.down_key, true));
  EXPECT_TRUE(off->hosts[1]->healthy.load());
}

TEST(HealthMonitor, NewSettingsApplyAtOnce) {
  Fixture f;
  auto slow = f.cluster({f.up_key}, true, nullptr, 60'000);
  f.monitor.update({slow});
  run_until(f.loop, [&] { return f.host(f.up_key)->state.checks() >= 1; });
  run_until(f.loop, [] { return false; }, 30);
  EXPECT_EQ(f.host(f.up_key)->state.checks(), 1u);  // the next one is a minute away
  f.monitor.update({f.cluster({f.up_key}, true, slow.get(), 10)});
  run_until(f.loop, [&] { return f.host(f.up_key)->state.checks() >= 3; });
  EXPECT_GE(f.host(f.up_key)->state.checks(), 3u);  // woken, then every 10 ms
}

TEST(HealthMonitor, RemovedClusterStopsItsProbes) {
  Fixture f;
  f.monitor.update({f.cluster({f.up_key}, true)});
  run_until(f.loop, [&] { return f.host(f.up_key)->state.checks() >= 1; });
  f.monitor.update({});
  EXPECT_FALSE(f.monitor.checks("web"));
  run_until(f.loop, [&] { return f.monitor.idle(); });
  EXPECT_TRUE(f.monitor.idle());
}

}  // namespace
}  // namespace cw::health
