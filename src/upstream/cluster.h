// ClusterSnapshot: an immutable set of hosts plus the cluster's settings, built off the request
// path and shared by every worker; WorkerCluster: one worker's live view of it (balancer, per-host
// stats, connection pools). Thread contract: snapshots immutable, any thread; WorkerCluster is
// owned by one worker.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/model.h"
#include "upstream/conn_pool.h"
#include "upstream/host.h"
#include "upstream/load_balancer.h"
#include "upstream/stats.h"

namespace cw::upstream {

enum class HashOn { kSourceIp, kHeader, kCookie };

struct ClusterSnapshot {
  std::string name;
  config::Cluster settings;
  std::vector<HostPtr> hosts;
  LbPolicy policy = LbPolicy::kRoundRobin;
  HashOn hash_on = HashOn::kSourceIp;
  std::string hash_name;  // header or cookie name for hash_on
};

// Builds a snapshot from config, reusing Host objects from `previous` by key so health state
// and pooled connections survive a reload. Start-up only: throws nothing, returns an error text.
std::shared_ptr<const ClusterSnapshot> build_cluster(const config::Cluster& c,
                                                     const ClusterSnapshot* previous,
                                                     std::string& error);

struct HostRuntime {
  HostStats lb;                 // what the balancer reads
  int64_t down_until_ms = 0;    // connect failures keep a host out of rotation for a while
  int consecutive_connect_failures = 0;
  std::shared_ptr<ConnPool> pool;  // shared: a request in flight keeps it across reloads
  HostCounters* counters = nullptr;  // in the worker's stats shard
};

class WorkerCluster {
 public:
  // stats: this cluster's entry in the worker's shard; registry_mu guards adding host entries
  // (the admin thread iterates them).
  WorkerCluster(std::shared_ptr<const ClusterSnapshot> snap, rt::EventLoop& loop, uint64_t seed,
                WorkerCluster* previous, ClusterStats& stats, std::mutex& registry_mu);

  const ClusterSnapshot& snapshot() const { return *snap_; }
  const std::shared_ptr<const ClusterSnapshot>& snapshot_ptr() const { return snap_; }
  size_t size() const { return hosts_.size(); }
  ClusterStats& stats() { return stats_shard_; }
  Host& host(size_t i) const { return *snap_->hosts[i]; }
  HostRuntime& runtime(size_t i) { return hosts_[i]; }

  // Picks an available host (skipping `exclude`, -1 for none); -1 when none is available.
  int pick(const LbContext& ctx, int exclude = -1);
  // Outcome feedback.
  void on_connect_failure(size_t i);
  void on_connect_success(size_t i);

  // The pool for a host key, shared with the next generation so connections survive reloads.
  std::shared_ptr<ConnPool> shared_pool(const std::string& key);

 private:
  void refresh_availability();
  std::shared_ptr<const ClusterSnapshot> snap_;
  rt::EventLoop& loop_;
  ClusterStats& stats_shard_;
  LoadBalancer lb_;
  std::vector<HostRuntime> hosts_;
  std::vector<HostStats> stats_;  // contiguous view for the balancer
};

}  // namespace cw::upstream
