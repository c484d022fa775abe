// EndpointSource and StaticSource: versions, change callbacks, refused sets, and the config
// path into an endpoint set. Thread contract: single-threaded tests (the "control thread").
#include "upstream/endpoint_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cluster_fixture.h"
#include "upstream/static_source.h"

namespace cw::upstream {
namespace {

using testing::endpoint;

// What a registry watch or a DNS refresh would be: something that calls publish().
class FakeSource final : public EndpointSource {
 public:
  std::string_view kind() const override { return "fake"; }
  void start(rt::EventLoop&) override {}
  void stop() override {}
  bool learn(std::vector<Endpoint> e, std::string& error) { return publish(std::move(e), error); }
};

TEST(EndpointSource, EmptyVersionZeroUntilFirstSet) {
  FakeSource s;
  ASSERT_NE(s.current(), nullptr);
  EXPECT_EQ(s.current()->version, 0u);
  EXPECT_TRUE(s.current()->endpoints.empty());
}

TEST(EndpointSource, EachChangeBumpsTheVersionAndCallsTheOwner) {
  FakeSource s;
  std::vector<std::shared_ptr<const EndpointSet>> seen;
  s.watch([&](std::shared_ptr<const EndpointSet> set) { seen.push_back(std::move(set)); });
  std::string error;
  ASSERT_TRUE(s.learn({endpoint(1), endpoint(2)}, error));
  ASSERT_TRUE(s.learn({endpoint(1), endpoint(3)}, error));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]->version, 1u);
  EXPECT_EQ(seen[1]->version, 2u);
  EXPECT_EQ(seen[1], s.current());
  EXPECT_EQ(seen[1]->endpoints[1].key, endpoint(3).key);
}

TEST(EndpointSource, TheSameSetInAnotherOrderIsNoChange) {
  FakeSource s;
  int calls = 0;
  s.watch([&](std::shared_ptr<const EndpointSet>) { ++calls; });
  std::string error;
  ASSERT_TRUE(s.learn({endpoint(1), endpoint(2), endpoint(3)}, error));
  const auto first = s.current();
  EXPECT_FALSE(s.learn({endpoint(3), endpoint(1), endpoint(2)}, error));  // DNS rotation
  EXPECT_TRUE(error.empty());
  EXPECT_EQ(s.current(), first);
  EXPECT_EQ(calls, 1);
  // A new weight or a new address under the same key is a change.
  EXPECT_TRUE(s.learn({endpoint(1, 5), endpoint(2), endpoint(3)}, error));
  Endpoint moved = endpoint(2);
  moved.address = endpoint(200).address;
  EXPECT_TRUE(s.learn({endpoint(1, 5), moved, endpoint(3)}, error));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(s.current()->version, 3u);
}

TEST(EndpointSource, ARefusedSetLeavesTheCurrentOne) {
  FakeSource s;
  int calls = 0;
  s.watch([&](std::shared_ptr<const EndpointSet>) { ++calls; });
  std::string error;
  ASSERT_TRUE(s.learn({endpoint(1)}, error));
  EXPECT_FALSE(s.learn({endpoint(1), endpoint(2), endpoint(1)}, error));
  EXPECT_NE(error.find("duplicate key"), std::string::npos) << error;
  EXPECT_NE(error.find(endpoint(1).key), std::string::npos) << error;
  EXPECT_FALSE(s.learn({endpoint(1, 0)}, error));
  EXPECT_NE(error.find("weight"), std::string::npos) << error;
  Endpoint nameless = endpoint(4);
  nameless.key.clear();
  EXPECT_FALSE(s.learn({nameless}, error));
  EXPECT_NE(error.find("empty key"), std::string::npos) << error;
  Endpoint nowhere{"x", rt::SocketAddress{}, 1};
  EXPECT_FALSE(s.learn({nowhere}, error));
  EXPECT_NE(error.find("no address"), std::string::npos) << error;
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s.current()->version, 1u);
  ASSERT_EQ(s.current()->endpoints.size(), 1u);
}

TEST(StaticSource, ConfigEndpointsInConfigOrder) {
  const config::Cluster c = testing::cluster_config("api", "round_robin", {3, 1, 2});
  std::string error;
  auto s = StaticSource::from_config(c, error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_EQ(s->kind(), "static");
  EXPECT_EQ(s->current()->version, 1u);
  ASSERT_EQ(s->current()->endpoints.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(same_endpoint(s->current()->endpoints[i], endpoint(std::vector{3, 1, 2}[i])));
  }
}

TEST(StaticSource, BadEndpointIsNamed) {
  config::Cluster c = testing::cluster_config("api", "round_robin", {1});
  c.endpoints.push_back(config::Endpoint{config::Address{"not-an-ip", 80}, 1});
  std::string error;
  EXPECT_EQ(StaticSource::from_config(c, error), nullptr);
  EXPECT_EQ(error, "cluster api: bad endpoint not-an-ip:80");
  c.endpoints.pop_back();
  c.endpoints.push_back(c.endpoints.front());
  EXPECT_EQ(StaticSource::from_config(c, error), nullptr);
  EXPECT_EQ(error.rfind("cluster api: endpoint 1 (10.0.0.1:8080): duplicate key", 0), 0u) << error;
}

TEST(StaticSource, AnEmptySetIsASet) {
  std::string error;
  auto s = StaticSource::from_endpoints({}, error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_EQ(s->current()->version, 1u);
  EXPECT_TRUE(s->current()->endpoints.empty());
}

}  // namespace
}  // namespace cw::upstream
