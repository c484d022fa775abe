// The health monitor's external targets (target groups, as the service registry uses them) on a
// real loop with loopback listeners and short intervals: first verdicts reach the group sink,
// update_group() adds, keeps, moves and drops targets, stop() ends their probes. Every wait is
// bounded; nothing asserts on timing.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "health/monitor.h"

namespace cw::health {
namespace {

using Target = HealthMonitor::Target;
using config::HealthCheck;

// Turns the loop until cond() holds or max_ms pass (run_once: no stop flag to reset).
void run_until(rt::EventLoop& loop, const std::function<bool()>& cond, int64_t max_ms = 3000) {
  loop.refresh_now();
  const int64_t end = loop.now_ms() + max_ms;
  while (!cond() && loop.now_ms() < end) loop.run_once(1);
}

// A small HTTP server: accepts until its listener closes, keeps each request head and answers
// from `replies` in turn (cycling), then closes the connection as `Connection: close` asks.
struct FakeHttp {
  rt::TcpListener listener;
  std::vector<std::string> replies;
  std::vector<std::string> seen;  // request heads, in order
  size_t accepted = 0;
  bool done = false;  // the accept loop ended (the listener was closed)
};

rt::Task<void> serve(FakeHttp* f) {
  for (;;) {
    auto s = co_await f->listener.accept();
    if (!s) break;
    ++f->accepted;
    std::string head;
    char buf[1024];
    const int64_t deadline = f->listener.loop().now_ms() + 2000;
    while (head.find("\r\n\r\n") == std::string::npos) {
      auto n = co_await s->read(buf, sizeof buf, deadline);
      if (!n || *n == 0) break;
      head.append(buf, *n);
    }
    if (head.find("\r\n\r\n") == std::string::npos) continue;  // the checker gave up
    const std::string& reply = f->replies[f->seen.size() % f->replies.size()];
    f->seen.push_back(std::move(head));
    (void)co_await s->write(reply, deadline);
  }
  f->done = true;
}

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kDown = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

struct Heard {
  std::string group, key;
  bool healthy;
  uint64_t checks;  // the target's checks when the sink ran: which result told
};

struct Fixture {
  rt::EventLoop loop;
  rt::TcpListener up;      // accepts from its backlog: a TCP check passes
  rt::SocketAddress down;  // a port that was bound and closed again: refused
  std::vector<std::unique_ptr<FakeHttp>> servers;
  std::vector<Heard> heard;
  HealthMonitor monitor{loop, [](const std::string&, const std::string&, bool) {}, 7};

  Fixture() {
    up = std::move(*rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0")));
    auto gone = rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0"));
    down = gone->local_address();  // closed at the end of this scope
  }
  ~Fixture() {
    monitor.stop();
    run_until(loop, [this] { return monitor.idle(); });
    EXPECT_TRUE(monitor.idle());
    up.close();
    for (auto& s : servers) s->listener.close();
    run_until(loop, [this] {
      for (auto& s : servers) {
        if (!s->done) return false;
      }
      return true;
    });
    loop.run_deferred();
  }

  FakeHttp& http_server(std::vector<std::string_view> replies) {
    auto f = std::make_unique<FakeHttp>();
    f->listener = std::move(*rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0")));
    for (auto r : replies) f->replies.emplace_back(r);
    rt::spawn(serve(f.get()));
    servers.push_back(std::move(f));
    return *servers.back();
  }

  static std::shared_ptr<const HealthCheck> tcp(int64_t interval_ms = 10, uint32_t thresholds = 2) {
    HealthCheck c;
    c.interval = config::Duration(interval_ms);
    c.timeout = config::Duration(500);
    c.healthy_threshold = thresholds;
    c.unhealthy_threshold = thresholds;
    return std::make_shared<const HealthCheck>(c);
  }
  static std::shared_ptr<const HealthCheck> http(std::string path, uint32_t thresholds = 2) {
    HealthCheck c = *tcp(10, thresholds);
    c.kind = HealthCheck::Kind::kHttp;
    c.http_path = std::move(path);
    return std::make_shared<const HealthCheck>(c);
  }

  HealthMonitor::GroupSink sink(std::string group) {
    return [this, group](const std::string& key, bool healthy) {
      const HostHealth* h = monitor.target(group, key);
      heard.push_back({group, key, healthy, h ? h->state.checks() : 0});
    };
  }
  void update(const std::string& group, std::vector<Target> targets) {
    monitor.update_group(group, std::move(targets), sink(group));
  }

  size_t count(const std::string& key, bool healthy) const {
    size_t n = 0;
    for (const Heard& h : heard) n += h.key == key && h.healthy == healthy;
    return n;
  }
  size_t count(const std::string& key) const { return count(key, true) + count(key, false); }
  const HostHealth* target(const std::string& key, const std::string& group = "registry/api") {
    return monitor.target(group, key);
  }
};

TEST(HealthTargets, ListeningTargetBecomesHealthyAtItsFirstCheck) {
  Fixture f;
  f.update("registry/api", {{"api-1", f.up.local_address(), Fixture::tcp()}});
  const HostHealth* h = f.target("api-1");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->state.verdict(), resilience::HealthVerdict::kUnchecked);
  EXPECT_FALSE(h->state.serving());  // unknown: held out until it passes
  run_until(f.loop, [&] { return f.count("api-1", true) >= 1; });
  ASSERT_EQ(f.count("api-1", true), 1u);
  EXPECT_EQ(f.heard[0].group, "registry/api");
  EXPECT_EQ(f.heard[0].checks, 1u);  // one pass was enough
  EXPECT_EQ(f.target("api-1")->state.verdict(), resilience::HealthVerdict::kHealthy);
  EXPECT_TRUE(f.target("api-1")->last.ok);
  EXPECT_EQ(f.target("api-1", "registry/other"), nullptr);
  EXPECT_EQ(f.target("api-2"), nullptr);
  EXPECT_FALSE(f.monitor.checks("registry/api"));  // groups are not clusters
}

TEST(HealthTargets, ClosedPortIsReportedAtItsFirstFailure) {
  Fixture f;
  f.update("registry/api", {{"api-1", f.down, Fixture::tcp()}});
  run_until(f.loop, [&] { return f.count("api-1", false) >= 1; });
  ASSERT_EQ(f.count("api-1", false), 1u);
  EXPECT_EQ(f.heard[0].checks, 1u);  // not after the threshold: at once
  const HostHealth* h = f.target("api-1");
  EXPECT_EQ(h->state.verdict(), resilience::HealthVerdict::kUnhealthy);
  EXPECT_EQ(h->last.error.rfind("connect: ", 0), 0u);
  // Further failures say nothing new.
  run_until(f.loop, [&] { return f.target("api-1")->failures_total >= 3; });
  EXPECT_EQ(f.count("api-1"), 1u);
}

TEST(HealthTargets, RemovedTargetStopsAndEmptyVectorRemovesTheGroup) {
  Fixture f;
  // Thresholds of one and answers that alternate: every check of "flappy" tells the sink.
  FakeHttp& flappy = f.http_server({kOk, kDown});
  const auto steady = f.up.local_address();
  f.update("registry/api", {{"flappy", flappy.listener.local_address(), Fixture::http("/", 1)},
                            {"steady", steady, Fixture::tcp()}});
  run_until(f.loop, [&] { return f.count("flappy") >= 3; });
  ASSERT_GE(f.count("flappy"), 3u);

  f.update("registry/api", {{"steady", steady, Fixture::tcp()}});
  EXPECT_EQ(f.target("flappy"), nullptr);
  ASSERT_NE(f.target("steady"), nullptr);
  // Let a check already under way end, then watch several rounds of the kept target.
  auto rounds = [&](uint64_t n) {
    const uint64_t until = f.target("steady")->state.checks() + n;
    run_until(f.loop, [&] { return f.target("steady")->state.checks() >= until; });
  };
  rounds(3);
  const size_t told = f.count("flappy");
  const size_t accepted = flappy.accepted;
  rounds(5);
  EXPECT_EQ(f.count("flappy"), told);
  EXPECT_EQ(flappy.accepted, accepted);  // no more connections: the probe is gone

  f.update("registry/api", {});
  EXPECT_EQ(f.target("steady"), nullptr);
  run_until(f.loop, [&] { return f.monitor.idle(); });
  EXPECT_TRUE(f.monitor.idle());  // no cluster, no group, every probe finished
}

TEST(HealthTargets, KeptKeyKeepsItsStateAndAMovedOneStartsOver) {
  Fixture f;
  f.update("registry/api", {{"api-1", f.down, Fixture::tcp()}});
  run_until(f.loop, [&] { return f.target("api-1")->failures_total >= 3; });
  const uint64_t failed = f.target("api-1")->failures_total;
  ASSERT_GE(failed, 3u);

  // Same key and address, a new threshold and a new neighbour: the state stays.
  f.update("registry/api", {{"api-2", f.up.local_address(), Fixture::tcp()},
                            {"api-1", f.down, Fixture::tcp(10, 3)}});
  EXPECT_GE(f.target("api-1")->failures_total, failed);
  EXPECT_EQ(f.target("api-1")->state.verdict(), resilience::HealthVerdict::kUnhealthy);
  EXPECT_EQ(f.target("api-1")->state.thresholds().healthy, 3u);
  run_until(f.loop, [&] { return f.count("api-2", true) >= 1; });
  EXPECT_EQ(f.count("api-1", false), 1u);  // not reported again as if new

  // The same key at a new address is a new target: unknown until its first check.
  f.update("registry/api", {{"api-2", f.up.local_address(), Fixture::tcp()},
                            {"api-1", f.up.local_address(), Fixture::tcp(10, 3)}});
  EXPECT_EQ(f.target("api-1")->failures_total, 0u);
  EXPECT_EQ(f.target("api-1")->state.verdict(), resilience::HealthVerdict::kUnchecked);
  run_until(f.loop, [&] { return f.count("api-1", true) >= 1; });
  EXPECT_EQ(f.count("api-1", true), 1u);  // one pass, not three: the first result decides
  EXPECT_EQ(f.count("api-2"), 1u);
}

TEST(HealthTargets, HttpTargetGetsItsPath) {
  Fixture f;
  FakeHttp& s = f.http_server({kOk});
  const rt::SocketAddress addr = s.listener.local_address();
  f.update("registry/api", {{"api-1", addr, Fixture::http("/status/ready")}});
  run_until(f.loop, [&] { return f.count("api-1", true) >= 1; });
  ASSERT_EQ(f.count("api-1", true), 1u);
  ASSERT_FALSE(s.seen.empty());
  // The Host is the target's address: its key is an id no server knows.
  EXPECT_EQ(s.seen[0].rfind("GET /status/ready HTTP/1.1\r\nHost: " + addr.text() + "\r\n", 0), 0u)
      << s.seen[0];
  EXPECT_EQ(f.target("api-1")->last.status, 200);
}

TEST(HealthTargets, GroupsAreSeparateFromClustersAndFromEachOther) {
  Fixture f;
  f.update("registry/a", {{"x", f.up.local_address(), Fixture::tcp()}});
  f.update("registry/b", {{"x", f.down, Fixture::tcp()}});
  run_until(f.loop, [&] { return f.count("x") >= 2; });
  ASSERT_EQ(f.heard.size(), 2u);
  for (const Heard& h : f.heard) EXPECT_EQ(h.healthy, h.group == "registry/a");
  f.monitor.update({});  // a reload without clusters leaves the groups alone
  EXPECT_NE(f.target("x", "registry/a"), nullptr);
  f.update("registry/b", {});
  EXPECT_EQ(f.target("x", "registry/b"), nullptr);
  EXPECT_NE(f.target("x", "registry/a"), nullptr);
  EXPECT_FALSE(f.monitor.idle());
}

TEST(HealthTargets, StopEndsTargetProbesAndLaterUpdatesAreIgnored) {
  Fixture f;
  f.update("registry/api", {{"api-1", f.up.local_address(), Fixture::tcp(60'000)}});
  run_until(f.loop, [&] { return f.count("api-1") >= 1; });  // now asleep for a minute
  f.monitor.stop();
  EXPECT_EQ(f.target("api-1"), nullptr);
  run_until(f.loop, [&] { return f.monitor.idle(); });
  EXPECT_TRUE(f.monitor.idle());
  f.update("registry/api", {{"api-1", f.up.local_address(), Fixture::tcp()}});
  EXPECT_EQ(f.target("api-1"), nullptr);
  EXPECT_TRUE(f.monitor.idle());
}

TEST(HealthTargets, ASinkMayReplaceItsGroupFromInsideTheCall) {
  Fixture f;
  const rt::SocketAddress addr = f.up.local_address();
  int calls = 0;
  f.monitor.update_group("registry/api", {{"api-1", addr, Fixture::tcp()}},
                         [&](const std::string&, bool) {
                           ++calls;
                           // The registry reacting to a verdict: the sink replaces itself.
                           f.monitor.update_group("registry/api", {}, nullptr);
                         });
  run_until(f.loop, [&] { return calls >= 1; });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(f.target("api-1"), nullptr);
  run_until(f.loop, [&] { return f.monitor.idle(); });
  EXPECT_TRUE(f.monitor.idle());
}

TEST(HealthTargets, TargetWithoutACheckIsSkipped) {
  Fixture f;
  f.update("registry/api", {{"api-1", f.up.local_address(), nullptr}});
  EXPECT_EQ(f.target("api-1"), nullptr);
  EXPECT_TRUE(f.monitor.idle());
}

}  // namespace
}  // namespace cw::health
