// Registry: index order, health from registration/heartbeat/ttl/check, restore after restart,
// blocking queries; all on a ManualClock, no sleeps.
#include "registry/registry.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "runtime/clock.h"
#include "runtime/task.h"

namespace cw::registry {
namespace {

Instance make(const std::string& service, const std::string& id, const std::string& check = "",
              uint16_t port = 9001) {
  std::string body = R"({"address":"127.0.0.2","port":)" + std::to_string(port);
  if (!check.empty()) body += R"(,"check":)" + check;
  body += "}";
  auto r = parse_instance(service, id, body);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().field + " " + r.error().message);
  return *r;
}

struct Rig {
  rt::ManualClock clock;
  rt::EventLoop loop{&clock};
  Registry reg{loop, nullptr};
  std::vector<std::string> changes;
  Rig() {
    reg.subscribe([this](const std::string& s) { changes.push_back(s); });
  }
  uint64_t put(Instance i) {
    uint64_t idx = 0;
    reg.put(std::move(i), [&](Result<uint64_t, RegistryError> r) {
      ASSERT_TRUE(r.has_value());
      idx = *r;
    });
    return idx;
  }
  void advance(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100) {
      clock.advance_ms(100);
      loop.run_once(0);
    }
  }
  Result<uint64_t, RegistryError> beat(const std::string& s, const std::string& id) {
    std::optional<Result<uint64_t, RegistryError>> out;
    reg.heartbeat(s, id, [&](Result<uint64_t, RegistryError> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "without a store a heartbeat is visible at once";
    return out ? std::move(*out) : Result<uint64_t, RegistryError>(Unexpected{RegistryError{}});
  }
  Health health(const std::string& s, const std::string& id) {
    return reg.find(s)->instances.at(id)->health;
  }
};

TEST(Registry, EveryChangeTakesTheNextIndexAndTellsListeners) {
  Rig r;
  EXPECT_EQ(r.reg.index(), 0u);
  EXPECT_EQ(r.put(make("api", "a1")), 1u);
  EXPECT_EQ(r.put(make("api", "a2")), 2u);
  EXPECT_EQ(r.put(make("web", "w1")), 3u);
  EXPECT_EQ(r.reg.service_index("api"), 2u);
  EXPECT_EQ(r.reg.service_index("web"), 3u);
  EXPECT_EQ(r.reg.service_index("never"), 3u);  // unknown: the registry's index
  EXPECT_EQ(r.changes, (std::vector<std::string>{"api", "api", "web"}));
  // Without a check an instance serves at once.
  EXPECT_EQ(r.health("api", "a1"), Health::kPassing);
  EXPECT_TRUE(r.reg.find("api")->instances.at("a1")->serving());

  bool done = false;
  r.reg.remove("api", "a1", [&](Result<uint64_t, RegistryError> res) {
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(*res, 4u);
    done = true;
  });
  EXPECT_TRUE(done);
  EXPECT_EQ(r.reg.find("api")->instances.count("a1"), 0u);
  r.reg.remove("api", "a1", [&](Result<uint64_t, RegistryError> res) {
    ASSERT_FALSE(res.has_value());
    EXPECT_EQ(res.error().code, RegistryError::Code::kNotFound);
  });
  EXPECT_EQ(r.reg.index(), 4u);  // a refused call changes nothing
  // The last instance gone, the service keeps its index (watchers of it see the removal).
  r.reg.remove("web", "w1", nullptr);
  ASSERT_NE(r.reg.find("web"), nullptr);
  EXPECT_EQ(r.reg.find("web")->index, 5u);
  EXPECT_TRUE(r.reg.find("web")->instances.empty());
}

TEST(Registry, TtlInstanceServesFromItsFirstHeartbeatUntilTtlPasses) {
  Rig r;
  r.put(make("api", "t1", R"({"ttl":"2s"})"));
  EXPECT_EQ(r.health("api", "t1"), Health::kUnknown);
  EXPECT_FALSE(r.reg.find("api")->instances.at("t1")->serving());
  const uint64_t before = r.reg.index();
  auto hb = r.beat("api", "t1");
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(r.health("api", "t1"), Health::kPassing);
  EXPECT_EQ(r.reg.index(), before + 1);  // the health changed: watchers must hear it
  // Heartbeats inside the ttl keep it passing and move nothing.
  for (int i = 0; i < 5; ++i) {
    r.advance(1500);
    ASSERT_TRUE(r.beat("api", "t1").has_value());
  }
  EXPECT_EQ(r.reg.index(), before + 1);
  EXPECT_EQ(r.health("api", "t1"), Health::kPassing);
  r.advance(2500);
  EXPECT_EQ(r.health("api", "t1"), Health::kCritical);
  EXPECT_NE(r.reg.find("api")->instances.at("t1")->health_detail.find("ttl"), std::string::npos);
  ASSERT_TRUE(r.beat("api", "t1").has_value());
  EXPECT_EQ(r.health("api", "t1"), Health::kPassing);

  auto none = r.beat("api", "nope");
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, RegistryError::Code::kNotFound);
  r.put(make("api", "plain"));
  auto not_ttl = r.beat("api", "plain");
  ASSERT_FALSE(not_ttl.has_value());
  EXPECT_EQ(not_ttl.error().code, RegistryError::Code::kNotTtl);
}

TEST(Registry, TtlInstanceThatNeverBeatsTurnsCritical) {
  Rig r;
  r.put(make("api", "t1", R"({"ttl":"1s"})"));
  r.advance(1500);
  EXPECT_EQ(r.health("api", "t1"), Health::kCritical);
}

TEST(Registry, CheckedInstanceWaitsForItsCheckAndReRegisteringKeepsHealth) {
  Rig r;
  r.put(make("api", "h1", R"({"http":"/healthz","interval":"1s"})"));
  EXPECT_EQ(r.health("api", "h1"), Health::kUnknown);
  r.reg.set_check_result("api", "h1", true, "200 OK");
  EXPECT_EQ(r.health("api", "h1"), Health::kPassing);
  // Same address, port and check: new tags do not reset health.
  Instance again = make("api", "h1", R"({"http":"/healthz","interval":"1s"})");
  again.tags = {"canary"};
  r.put(again);
  EXPECT_EQ(r.health("api", "h1"), Health::kPassing);
  EXPECT_EQ(r.reg.find("api")->instances.at("h1")->create_index, 1u);
  // A new port is a new thing to check.
  r.put(make("api", "h1", R"({"http":"/healthz","interval":"1s"})", 9002));
  EXPECT_EQ(r.health("api", "h1"), Health::kUnknown);
  r.reg.set_check_result("api", "h1", false, "connection refused");
  EXPECT_EQ(r.health("api", "h1"), Health::kCritical);
  // Ejection takes a passing instance out of service and moves the index.
  r.reg.set_check_result("api", "h1", true, "200 OK");
  const uint64_t idx = r.reg.index();
  r.reg.set_ejected("api", "h1", true);
  EXPECT_FALSE(r.reg.find("api")->instances.at("h1")->serving());
  EXPECT_EQ(r.reg.index(), idx + 1);
  r.reg.set_ejected("api", "h1", true);  // no change, no index
  EXPECT_EQ(r.reg.index(), idx + 1);
}

TEST(Registry, RestoredCheckedInstancesStartUnknown) {
  Rig r;
  Loaded l;
  l.index = 40;
  l.instances.push_back({make("api", "plain"), 3, 7});
  l.instances.push_back({make("api", "ttl", R"({"ttl":"5s"})"), 4, 9});
  l.instances.push_back({make("web", "tcp", R"({"tcp":true})"), 5, 5});
  r.reg.restore(l);
  EXPECT_EQ(r.reg.index(), 40u);
  EXPECT_EQ(r.reg.service_index("api"), 9u);
  EXPECT_EQ(r.health("api", "plain"), Health::kPassing);
  EXPECT_EQ(r.health("api", "ttl"), Health::kUnknown);
  EXPECT_EQ(r.health("web", "tcp"), Health::kUnknown);
  EXPECT_NE(r.reg.find("web")->instances.at("tcp")->health_detail.find("restarted"),
            std::string::npos);
  EXPECT_EQ(r.put(make("api", "new")), 41u);  // the index continues after the stored one
}

rt::Task<void> watch(Registry* reg, std::string service, uint64_t after, int64_t ms,
                     std::vector<uint64_t>* seen) {
  auto parked = reg->wait(service, after, ms);  // named: g++ 12 and co_await temporaries
  co_await parked;
  seen->push_back(service.empty() ? reg->index() : reg->service_index(service));
}

TEST(Registry, BlockingQueryReturnsOnChangeOfItsServiceOnly) {
  Rig r;
  r.put(make("api", "a1"));
  r.put(make("web", "w1"));
  std::vector<uint64_t> api_seen, any_seen;
  rt::spawn(watch(&r.reg, "api", r.reg.service_index("api"), 60'000, &api_seen));
  rt::spawn(watch(&r.reg, "", r.reg.index(), 60'000, &any_seen));
  EXPECT_EQ(r.reg.waiting(), 2u);
  r.loop.run_once(0);
  EXPECT_TRUE(api_seen.empty());
  r.put(make("web", "w2"));  // another service: only the "any" watcher returns
  r.loop.run_once(0);
  EXPECT_TRUE(api_seen.empty());
  EXPECT_EQ(any_seen, (std::vector<uint64_t>{3}));
  r.put(make("api", "a2"));
  r.loop.run_once(0);
  EXPECT_EQ(api_seen, (std::vector<uint64_t>{4}));
  EXPECT_EQ(r.reg.waiting(), 0u);
}

TEST(Registry, BlockingQueryTimesOutAndStaleOrFutureIndexesReturnAtOnce) {
  Rig r;
  r.put(make("api", "a1"));
  std::vector<uint64_t> seen;
  rt::spawn(watch(&r.reg, "api", 1, 2'000, &seen));
  r.advance(1'000);
  EXPECT_TRUE(seen.empty());
  r.advance(1'500);  // 2 s plus up to 1/16 jitter
  EXPECT_EQ(seen, (std::vector<uint64_t>{1}));
  rt::spawn(watch(&r.reg, "api", 0, 60'000, &seen));   // already past 0
  rt::spawn(watch(&r.reg, "api", 99, 60'000, &seen));  // from before a restart
  rt::spawn(watch(&r.reg, "nope", 1, 0, &seen));       // wait=0
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(r.reg.waiting(), 0u);
  // An unknown service's watcher returns when the service appears.
  rt::spawn(watch(&r.reg, "later", r.reg.service_index("later"), 60'000, &seen));
  EXPECT_EQ(r.reg.waiting(), 1u);
  r.put(make("later", "l1"));
  r.loop.run_once(0);
  EXPECT_EQ(seen.back(), 2u);
  EXPECT_EQ(r.reg.wait_ms_for(std::nullopt), 5 * 60 * 1000);
  EXPECT_EQ(r.reg.wait_ms_for(int64_t(24) * 3600 * 1000), 10 * 60 * 1000);
}

TEST(Registry, CloseReleasesEveryWatcherAndRefusesChanges) {
  Rig r;
  r.put(make("api", "a1"));
  std::vector<uint64_t> seen;
  for (int i = 0; i < 100; ++i) rt::spawn(watch(&r.reg, i % 2 ? "api" : "", 1, 60'000, &seen));
  EXPECT_EQ(r.reg.waiting(), 100u);
  r.reg.close();
  r.loop.run_once(0);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(r.reg.waiting(), 0u);
  bool refused = false;
  r.reg.put(make("api", "a2"), [&](Result<uint64_t, RegistryError> res) {
    refused = !res.has_value() && res.error().code == RegistryError::Code::kClosed;
  });
  EXPECT_TRUE(refused);
}

TEST(Registry, ChangesThroughTheStoreApplyInIndexOrderOnceDurable) {
  char tmpl[] = "/tmp/cw-reg-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  {
    rt::EventLoop loop;
    auto store = Store::open(dir);
    ASSERT_TRUE(store.has_value()) << store.error();
    Registry reg(loop, store->get());
    reg.restore(*(*store)->load());
    std::vector<uint64_t> acks;
    for (int i = 0; i < 50; ++i) {
      reg.put(make("api", "i" + std::to_string(i)),
              [&](Result<uint64_t, RegistryError> res) { acks.push_back(res ? *res : 0); });
    }
    reg.put(make("api", "t", R"({"ttl":"10s"})"), nullptr);
    EXPECT_EQ(reg.index(), 0u);  // nothing visible before it is durable
    for (int spin = 0; spin < 2000 && (acks.size() < 50 || !reg.find("api") ||
                                       reg.find("api")->instances.size() < 51);
         ++spin) {
      loop.run_once(5);
    }
    ASSERT_EQ(acks.size(), 50u);
    for (size_t i = 0; i < acks.size(); ++i) EXPECT_EQ(acks[i], i + 1);
    std::optional<uint64_t> beat;
    reg.heartbeat("api", "t", [&](Result<uint64_t, RegistryError> res) {
      ASSERT_TRUE(res.has_value());
      beat = *res;
      // Answered only once readers see it.
      EXPECT_EQ(reg.find("api")->instances.at("t")->health, Health::kPassing);
    });
    EXPECT_FALSE(beat.has_value());
    for (int spin = 0; spin < 2000 && !beat; ++spin) loop.run_once(5);
    ASSERT_TRUE(beat.has_value());
    EXPECT_EQ(*beat, 52u);
    EXPECT_EQ(reg.index(), 52u);
    reg.close();
    (*store)->close();
    loop.run_deferred();
  }
  auto store = Store::open(dir);
  ASSERT_TRUE(store.has_value());
  auto l = (*store)->load();
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->instances.size(), 51u);
  EXPECT_EQ(l->index, 52u);  // the health change's index is kept too: indexes never go back
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cw::registry
