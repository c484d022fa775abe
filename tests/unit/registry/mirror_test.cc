// The registry as a mirror of a shared store (backend: etcd): writes go to the remote, changes
// arrive by mirror_*(), TTLs are the remote's leases; the etcd key layout. ManualClock, no etcd.
#include <gtest/gtest.h>

#include "registry/etcd_backend.h"
#include "registry/registry.h"
#include "runtime/clock.h"

namespace cw::registry {
namespace {

Instance make(const std::string& id, const std::string& check = "", uint16_t port = 9001) {
  std::string body = R"({"address":"127.0.0.2","port":)" + std::to_string(port);
  if (!check.empty()) body += R"(,"check":)" + check;
  body += "}";
  auto r = parse_instance("api", id, body);
  EXPECT_TRUE(r.has_value());
  return *r;
}

struct FakeRemote : Registry::Remote {
  std::vector<std::string> calls;
  void put(Instance inst, Registry::Done done) override {
    calls.push_back("put " + inst.id);
    done(uint64_t(7));
  }
  void remove(const std::string&, const std::string& id, Registry::Done done) override {
    calls.push_back("remove " + id);
    done(Unexpected{RegistryError{RegistryError::Code::kUnavailable, "no quorum"}});
  }
  void heartbeat(const std::string&, const std::string& id, Registry::Done done) override {
    calls.push_back("beat " + id);
    done(uint64_t(8));
  }
};

struct Rig {
  rt::ManualClock clock;
  rt::EventLoop loop{&clock};
  Registry reg{loop, nullptr};
  FakeRemote remote;
  std::vector<std::string> changes;
  Rig() {
    reg.set_remote(&remote, "etcd");
    reg.subscribe([this](const std::string& s) { changes.push_back(s); });
  }
  const Entry& at(const std::string& id) { return *reg.find("api")->instances.at(id); }
  void advance(int64_t ms) {
    for (int64_t t = 0; t < ms; t += 100) {
      clock.advance_ms(100);
      loop.run_once(0);
    }
  }
};

TEST(RegistryMirror, WritesGoToTheRemoteAndChangeNothingLocally) {
  Rig r;
  std::optional<Result<uint64_t, RegistryError>> put, del, beat;
  r.reg.put(make("a"), [&](auto res) { put = res; });
  r.reg.remove("api", "a", [&](auto res) { del = res; });
  r.reg.heartbeat("api", "a", [&](auto res) { beat = res; });
  EXPECT_EQ(r.remote.calls, (std::vector<std::string>{"put a", "remove a", "beat a"}));
  ASSERT_TRUE(put && *put);
  EXPECT_EQ(**put, 7u);
  ASSERT_TRUE(del && !*del);
  EXPECT_EQ(del->error().code, RegistryError::Code::kUnavailable);
  EXPECT_EQ(r.reg.find("api"), nullptr);  // only the watch changes the mirror
  EXPECT_TRUE(r.changes.empty());
  EXPECT_TRUE(r.reg.mirrored());
  EXPECT_EQ(r.reg.backend(), "etcd");
}

TEST(RegistryMirror, AppliesTheSharedStoresChangesWithItsRevisions) {
  Rig r;
  r.reg.mirror_put(make("a"), 40, 41);
  EXPECT_EQ(r.changes, std::vector<std::string>{"api"});
  EXPECT_EQ(r.at("a").create_index, 40u);
  EXPECT_EQ(r.at("a").modify_index, 41u);
  EXPECT_TRUE(r.at("a").serving());  // no check: serving while registered
  const uint64_t idx = r.reg.index();
  EXPECT_GT(idx, 0u);
  r.reg.mirror_remove("api", "a");
  EXPECT_GT(r.reg.index(), idx);  // the local index moves with every applied change
  EXPECT_TRUE(r.reg.find("api")->instances.empty());
  r.reg.mirror_remove("api", "a");  // already gone: nothing
  EXPECT_EQ(r.changes.size(), 2u);
}

TEST(RegistryMirror, TtlHealthIsTheLeaseNotALocalTimer) {
  Rig r;
  r.reg.mirror_put(make("t", R"({"ttl":"2s"})"), 5, 5);
  EXPECT_EQ(r.at("t").health, Health::kUnknown);
  r.reg.mirror_alive("api", "t", true, "heartbeat received");
  EXPECT_EQ(r.at("t").health, Health::kPassing);
  r.advance(10'000);  // far past the ttl: no local timer turns it critical
  EXPECT_EQ(r.at("t").health, Health::kPassing);
  r.reg.mirror_alive("api", "t", false, "lease expired");
  EXPECT_EQ(r.at("t").health, Health::kCritical);
  EXPECT_EQ(r.at("t").health_detail, "lease expired");
  // Registering again at the same address keeps the verdict; a new address starts over.
  r.reg.mirror_alive("api", "t", true, "heartbeat received");
  r.reg.mirror_put(make("t", R"({"ttl":"2s"})"), 5, 9);
  EXPECT_EQ(r.at("t").health, Health::kPassing);
  r.reg.mirror_put(make("t", R"({"ttl":"2s"})", 9002), 5, 10);
  EXPECT_EQ(r.at("t").health, Health::kUnknown);
  // Liveness of an instance without a ttl check changes nothing.
  r.reg.mirror_put(make("n"), 11, 11);
  r.reg.mirror_alive("api", "n", false, "x");
  EXPECT_TRUE(r.at("n").serving());
}

TEST(RegistryMirror, StalenessIsShownWithItsAgeAndReason) {
  Rig r;
  EXPECT_FALSE(r.reg.stale());
  r.advance(1000);
  r.reg.set_stale(true, "etcd has no quorum");
  const int64_t since = r.reg.stale_since_ms();
  r.advance(1000);
  r.reg.set_stale(true, "still");  // the start stays the first moment
  EXPECT_EQ(r.reg.stale_since_ms(), since);
  EXPECT_EQ(r.reg.stale_reason(), "still");
  r.reg.set_stale(false, "");
  EXPECT_FALSE(r.reg.stale());
  EXPECT_EQ(r.reg.stale_reason(), "");
}

TEST(EtcdKeys, LayoutAndParsing) {
  EtcdKeys k{"/cw/"};
  EXPECT_EQ(k.instance("api", "a1"), "/cw/instances/api/a1");
  EXPECT_EQ(k.alive("api", "a1"), "/cw/alive/api/a1");
  std::string s, id;
  EXPECT_EQ(k.parse("/cw/instances/api/a1", s, id), EtcdKeys::Kind::kInstance);
  EXPECT_EQ(s, "api");
  EXPECT_EQ(id, "a1");
  EXPECT_EQ(k.parse("/cw/alive/web/w-2", s, id), EtcdKeys::Kind::kAlive);
  EXPECT_EQ(id, "w-2");
  // Anything else under the prefix (or outside it) is not ours to serve.
  for (const char* other : {"/cw/probe", "/cw/instances/api", "/cw/instances/API/a1",
                            "/cw/instances/api/a/b", "/other/instances/api/a1",
                            "/cw/instances//a1", "/cw/alive/api/"}) {
    EXPECT_EQ(k.parse(other, s, id), EtcdKeys::Kind::kOther) << other;
  }
}

TEST(EtcdKeys, LeaseSecondsRoundUpWithAFloor) {
  EXPECT_EQ(lease_seconds(30'000), 30);
  EXPECT_EQ(lease_seconds(1500), 2);
  EXPECT_EQ(lease_seconds(100), 2);  // etcd refuses leases much under its election timeout
  EXPECT_EQ(lease_seconds(2001), 3);
}

}  // namespace
}  // namespace cw::registry
