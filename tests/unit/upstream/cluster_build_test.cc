// ClusterSnapshot building: hosts from an endpoint set (the config path through a StaticSource),
// the key index, Host reuse by key in O(n) (10,000 hosts), small updates that keep settings.
// Thread contract: single-threaded tests (the "control thread").
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cluster_fixture.h"
#include "upstream/cluster.h"

namespace cw::upstream {
namespace {

using testing::endpoint;
using testing::endpoint_set;
using testing::ids;

void expect_indexed(const ClusterSnapshot& s) {
  ASSERT_EQ(s.index.size(), s.hosts.size());
  for (size_t i = 0; i < s.hosts.size(); ++i) {
    ASSERT_EQ(s.find(s.hosts[i]->key), static_cast<int>(i)) << s.hosts[i]->key;
  }
  EXPECT_EQ(s.find("nowhere:1"), -1);
}

TEST(BuildCluster, ConfigPathTakesTheStaticEndpointsInOrder) {
  config::Cluster c = testing::cluster_config("api", "least_request", {5, 2, 9});
  c.endpoints[1].weight = 3;
  c.hash_on = "header:x-user";
  std::string error;
  auto s = build_cluster(c, nullptr, error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_EQ(s->name, "api");
  EXPECT_EQ(s->policy, LbPolicy::kLeastRequest);
  EXPECT_EQ(s->hash_on, HashOn::kHeader);
  EXPECT_EQ(s->hash_name, "x-user");
  EXPECT_EQ(s->endpoints_version, 1u);
  ASSERT_EQ(s->hosts.size(), 3u);
  EXPECT_EQ(s->hosts[0]->key, endpoint(5).key);
  EXPECT_EQ(s->hosts[1]->key, endpoint(2).key);
  EXPECT_EQ(s->hosts[1]->weight, 3u);
  EXPECT_TRUE(same_address(s->hosts[2]->address, endpoint(9).address));
  expect_indexed(*s);
  ASSERT_NE(s->balancer, nullptr);
  EXPECT_EQ(s->balancer->hosts().size(), 3u);
  EXPECT_EQ(s->balancer->hosts()[1].weight, 3u);
}

TEST(BuildCluster, ConfigErrorsAreKept) {
  config::Cluster c = testing::cluster_config("api", "least_requests", {1});
  std::string error;
  EXPECT_EQ(build_cluster(c, nullptr, error), nullptr);
  EXPECT_EQ(error, "cluster api: unknown lb least_requests");
  c = testing::cluster_config("api", "round_robin", {1});
  c.endpoints[0].address.host = "example.com";
  EXPECT_EQ(build_cluster(c, nullptr, error), nullptr);
  EXPECT_EQ(error, "cluster api: bad endpoint example.com:8080");
}

TEST(BuildCluster, HostsComeFromTheEndpointSetNotTheConfigList) {
  const config::Cluster c = testing::cluster_config("api", "round_robin", {1, 2});
  std::string error;
  auto s = build_cluster(c, endpoint_set({7, 8, 9}, 4), nullptr, error);
  ASSERT_NE(s, nullptr) << error;
  ASSERT_EQ(s->hosts.size(), 3u);
  EXPECT_EQ(s->hosts[0]->key, endpoint(7).key);
  EXPECT_EQ(s->endpoints_version, 4u);
  expect_indexed(*s);
}

TEST(BuildCluster, ARefusedSetNamesTheCluster) {
  const config::Cluster c = testing::cluster_config("api", "round_robin", {1});
  EndpointSet set = endpoint_set({1, 2});
  set.endpoints.push_back(endpoint(1));
  std::string error;
  EXPECT_EQ(build_cluster(c, set, nullptr, error), nullptr);
  EXPECT_EQ(error.rfind("cluster api: endpoint 2 (10.0.0.1:8080): duplicate key", 0), 0u) << error;
}

TEST(BuildCluster, ReusesHostsByKeyAddressAndWeight) {
  const config::Cluster c = testing::cluster_config("api", "round_robin");
  std::string error;
  auto a = build_cluster(c, endpoint_set({1, 2, 3}), nullptr, error);
  ASSERT_NE(a, nullptr) << error;
  a->hosts[1]->healthy.store(false);  // published by a health check
  a->hosts[2]->healthy.store(false);

  EndpointSet next;
  next.version = 2;
  next.endpoints = {endpoint(3), endpoint(2, 5), endpoint(1), endpoint(4)};
  next.endpoints[0].address = endpoint(300).address;  // same key, another address
  auto b = with_endpoints(*a, next, error);
  ASSERT_NE(b, nullptr) << error;
  ASSERT_EQ(b->hosts.size(), 4u);
  EXPECT_EQ(b->hosts[2], a->hosts[0]);  // unchanged: the same object
  EXPECT_NE(b->hosts[1], a->hosts[1]);  // new weight, new Host ...
  EXPECT_EQ(b->hosts[1]->weight, 5u);
  EXPECT_FALSE(b->hosts[1]->healthy.load());  // ... that keeps its published health
  EXPECT_NE(b->hosts[0], a->hosts[2]);        // another address is another host
  EXPECT_TRUE(b->hosts[0]->healthy.load());
  EXPECT_TRUE(same_address(b->hosts[0]->address, endpoint(300).address));
  EXPECT_EQ(b->find(endpoint(4).key), 3);
  expect_indexed(*b);
}

TEST(BuildCluster, WithEndpointsKeepsTheSettings) {
  config::Cluster c = testing::cluster_config("api", "maglev", {1, 2});
  c.hash_on = "cookie:session";
  c.pool.max_idle = 3;
  std::string error;
  auto a = build_cluster(c, nullptr, error);
  ASSERT_NE(a, nullptr) << error;
  auto b = with_endpoints(*a, endpoint_set({2, 3, 4}, 2), error);
  ASSERT_NE(b, nullptr) << error;
  EXPECT_EQ(b->name, "api");
  EXPECT_EQ(b->policy, LbPolicy::kMaglev);
  EXPECT_EQ(b->hash_on, HashOn::kCookie);
  EXPECT_EQ(b->hash_name, "session");
  EXPECT_EQ(b->settings.pool.max_idle, 3u);
  EXPECT_EQ(b->endpoints_version, 2u);
  EXPECT_EQ(b->hosts.size(), 3u);
  EXPECT_EQ(b->balancer->hosts().size(), 3u);
  EXPECT_EQ(b->hosts[0], a->hosts[1]);
  EXPECT_EQ(a->hosts.size(), 2u);  // the old snapshot is untouched
}

TEST(BuildCluster, AnEmptySetMakesAnEmptyCluster) {
  const config::Cluster c = testing::cluster_config("api", "ring_hash", {1});
  std::string error;
  auto s = build_cluster(c, EndpointSet{3, {}}, nullptr, error);
  ASSERT_NE(s, nullptr) << error;
  EXPECT_TRUE(s->hosts.empty());
  EXPECT_TRUE(s->index.empty());
}

// 10,000 hosts, reversed, every tenth dropped, 1,000 added: every survivor is the same Host at
// its new position. A quadratic match would be 10^8 key comparisons per rebuild.
TEST(BuildCluster, TenThousandHostsMatchedByKey) {
  constexpr int kHosts = 10000;
  const config::Cluster c = testing::cluster_config("big", "round_robin");
  std::string error;
  auto a = build_cluster(c, endpoint_set(ids(0, kHosts)), nullptr, error);
  ASSERT_NE(a, nullptr) << error;
  ASSERT_EQ(a->hosts.size(), size_t(kHosts));
  expect_indexed(*a);

  std::vector<int> next;
  for (int i = kHosts - 1; i >= 0; --i) {
    if (i % 10 != 0) next.push_back(i);
  }
  for (int i = kHosts; i < kHosts + 1000; ++i) next.push_back(i);
  auto b = with_endpoints(*a, endpoint_set(next, 2), error);
  ASSERT_NE(b, nullptr) << error;
  ASSERT_EQ(b->hosts.size(), next.size());
  expect_indexed(*b);
  for (size_t p = 0; p < next.size(); ++p) {
    const int id = next[p];
    if (id < kHosts) {
      ASSERT_EQ(b->hosts[p], a->hosts[size_t(id)]) << id;
    } else {
      ASSERT_EQ(a->find(b->hosts[p]->key), -1) << id;
    }
  }
  for (int i = 0; i < kHosts; i += 10) ASSERT_EQ(b->find(endpoint(i).key), -1);
}

}  // namespace
}  // namespace cw::upstream
