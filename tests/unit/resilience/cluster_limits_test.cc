// Cluster limits split into per-worker shares: the arithmetic, the admission check at the
// boundary, and the names the overflow error and the metrics use. Pure; no clock needed.
// Thread contract: single-threaded.
#include "resilience/cluster_limits.h"

#include <gtest/gtest.h>

namespace cw::resilience {
namespace {

TEST(ClusterLimits, ShareIsTheCeilingOfLimitOverWorkers) {
  EXPECT_EQ(worker_share(64, 1), 64u);
  EXPECT_EQ(worker_share(64, 2), 32u);
  EXPECT_EQ(worker_share(64, 3), 22u);  // 3 * 22 = 66: at most workers - 1 over the limit
  EXPECT_EQ(worker_share(1, 4), 1u);    // every worker can admit one: never starved
  EXPECT_EQ(worker_share(0, 4), 0u);    // 0 means nothing, on every worker
  EXPECT_EQ(worker_share(5, 0), 5u);    // an unknown count (0) is one worker
}

TEST(ClusterLimits, DefaultsAreTheConfigDefaults) {
  const ClusterLimits l;
  EXPECT_EQ(l.configured(Limit::kMaxConnections), 1024u);
  EXPECT_EQ(l.configured(Limit::kMaxPending), 1024u);
  EXPECT_EQ(l.configured(Limit::kMaxRequests), 1024u);
  EXPECT_EQ(l.configured(Limit::kMaxRetries), 3u);
  EXPECT_EQ(l.share(Limit::kMaxPending), 1024u);
}

TEST(ClusterLimits, EachWorkerAdmitsUpToItsShare) {
  config::CircuitBreaker b;
  b.max_connections = 10;
  b.max_pending = 64;
  b.max_requests = 0;
  b.max_retries = 3;
  const ClusterLimits l(b, 2);
  EXPECT_EQ(l.configured(Limit::kMaxPending), 64u);
  EXPECT_EQ(l.share(Limit::kMaxPending), 32u);
  EXPECT_TRUE(l.admits(Limit::kMaxPending, 31));
  EXPECT_FALSE(l.admits(Limit::kMaxPending, 32));
  EXPECT_TRUE(l.admits(Limit::kMaxConnections, 4));
  EXPECT_FALSE(l.admits(Limit::kMaxConnections, 5));
  EXPECT_FALSE(l.admits(Limit::kMaxRequests, 0)) << "0 admits nothing";
  EXPECT_EQ(l.share(Limit::kMaxRetries), 2u);
  EXPECT_TRUE(l.admits(Limit::kMaxRetries, 1));
  EXPECT_FALSE(l.admits(Limit::kMaxRetries, 2));
}

TEST(ClusterLimits, NamesAreTheConfigKeys) {
  EXPECT_EQ(limit_name(Limit::kMaxConnections), "max_connections");
  EXPECT_EQ(limit_name(Limit::kMaxPending), "max_pending");
  EXPECT_EQ(limit_name(Limit::kMaxRequests), "max_requests");
  EXPECT_EQ(limit_name(Limit::kMaxRetries), "max_retries");
}

}  // namespace
}  // namespace cw::resilience
