// Worker::update_cluster: one cluster's hosts replaced by message without a config reload. A
// real Worker, no thread: the test calls install() and update_cluster() as its loop would.
// Thread contract: single-threaded (the test is the worker's loop thread).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "cluster_fixture.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

namespace cw::proxy {
namespace {

using upstream::testing::endpoint;
using upstream::testing::endpoint_set;

std::shared_ptr<const ProxySnapshot> two_clusters() {
  auto cfg = std::make_shared<config::Config>();
  cfg->clusters.push_back(upstream::testing::cluster_config("api", "least_request", {1, 2, 3}));
  cfg->clusters.push_back(upstream::testing::cluster_config("web", "round_robin", {10}));
  std::string error;
  auto snap = build_snapshot(cfg, nullptr, error);
  EXPECT_NE(snap, nullptr) << error;
  return snap;
}

class WorkerUpdateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_.install(two_clusters(), {});
    old_ = worker_.generation();
    ASSERT_NE(old_, nullptr);
    ASSERT_EQ(old_->clusters.size(), 2u);
  }
  // api's hosts become {3, 1, 4}: 2 is removed, 4 is added.
  std::shared_ptr<const upstream::ClusterSnapshot> api_update() {
    std::string error;
    auto cs =
        upstream::with_endpoints(old_->clusters[0]->snapshot(), endpoint_set({3, 1, 4}, 2), error);
    EXPECT_NE(cs, nullptr) << error;
    return cs;
  }

  Worker worker_{0};
  std::shared_ptr<WorkerGeneration> old_;
};

TEST_F(WorkerUpdateTest, MakesANewGenerationAndLeavesTheOldOneAlone) {
  upstream::WorkerCluster* old_api = old_->clusters[0].get();
  auto update = api_update();
  ASSERT_TRUE(worker_.update_cluster(update));
  const auto& now = worker_.generation();
  ASSERT_NE(now, old_);
  // The old generation, which requests in flight hold, still has the old cluster view.
  EXPECT_EQ(old_->clusters[0].get(), old_api);
  EXPECT_EQ(old_api->size(), 3u);
  EXPECT_EQ(old_api->host(1).key, endpoint(2).key);
  // The new one has the update, and the rest of the generation is shared.
  EXPECT_EQ(now->clusters[0]->snapshot_ptr(), update);
  EXPECT_EQ(now->clusters[0]->size(), 3u);
  EXPECT_EQ(now->clusters[0]->stats().requests.get(), old_api->stats().requests.get());
  EXPECT_EQ(&now->clusters[0]->stats(), &old_api->stats());  // one shard entry per name
  EXPECT_EQ(now->clusters[1], old_->clusters[1]);            // web: the same object
  EXPECT_EQ(now->snap, old_->snap);
  EXPECT_EQ(now->route_stats, old_->route_stats);
}

TEST_F(WorkerUpdateTest, PoolsFollowTheHostKeys) {
  upstream::WorkerCluster& before = *old_->clusters[0];
  auto pool1 = before.shared_pool(endpoint(1).key);
  auto pool2 = before.shared_pool(endpoint(2).key);
  auto pool3 = before.shared_pool(endpoint(3).key);
  ASSERT_TRUE(pool1 && pool2 && pool3);
  ASSERT_TRUE(worker_.update_cluster(api_update()));
  upstream::WorkerCluster& after = *worker_.generation()->clusters[0];
  EXPECT_EQ(after.shared_pool(endpoint(1).key), pool1);  // survivors: the same pool objects
  EXPECT_EQ(after.shared_pool(endpoint(3).key), pool3);
  EXPECT_EQ(after.runtime(0).pool, pool3);
  EXPECT_EQ(after.shared_pool(endpoint(2).key), nullptr);  // removed: not carried ...
  for (size_t i = 0; i < after.size(); ++i) EXPECT_NE(after.runtime(i).pool, pool2);
  EXPECT_EQ(before.shared_pool(endpoint(2).key), pool2);  // ... but alive for the old view
  auto pool4 = after.shared_pool(endpoint(4).key);
  ASSERT_NE(pool4, nullptr);
  EXPECT_NE(pool4, pool1);
  EXPECT_NE(pool4, pool3);
}

TEST_F(WorkerUpdateTest, BackoffSurvivesTheUpdate) {
  old_->clusters[0]->on_connect_failure(0);  // host 1 backing off on this worker
  ASSERT_TRUE(worker_.update_cluster(api_update()));
  upstream::WorkerCluster& after = *worker_.generation()->clusters[0];
  EXPECT_FALSE(after.available(size_t(after.find(endpoint(1).key))));
  EXPECT_TRUE(after.available(size_t(after.find(endpoint(4).key))));
}

TEST_F(WorkerUpdateTest, AnUnknownClusterChangesNothing) {
  std::string error;
  config::Cluster gone = upstream::testing::cluster_config("gone", "round_robin", {1});
  auto cs = upstream::build_cluster(gone, nullptr, error);
  ASSERT_NE(cs, nullptr) << error;
  EXPECT_FALSE(worker_.update_cluster(cs));
  EXPECT_EQ(worker_.generation(), old_);
}

TEST_F(WorkerUpdateTest, AReloadAfterAnUpdateStartsFromTheUpdatedView) {
  ASSERT_TRUE(worker_.update_cluster(api_update()));
  ASSERT_NE(worker_.generation()->clusters[0]->shared_pool(endpoint(4).key), nullptr);
  worker_.install(two_clusters(), {});  // the config still lists 1, 2, 3
  upstream::WorkerCluster& api = *worker_.generation()->clusters[0];
  EXPECT_EQ(api.size(), 3u);
  EXPECT_EQ(api.shared_pool(endpoint(1).key), old_->clusters[0]->shared_pool(endpoint(1).key));
  EXPECT_EQ(api.shared_pool(endpoint(4).key), nullptr);
}

}  // namespace
}  // namespace cw::proxy
