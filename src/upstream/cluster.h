// ClusterSnapshot: an immutable set of hosts plus the cluster's settings, built off the request
// path (from an EndpointSource's set) and shared by every worker; WorkerCluster: one worker's
// live view of it (balancer, per-host availability, connection pools). Thread contract:
// snapshots immutable, any thread; WorkerCluster is owned by one worker and used on its thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/counter.h"
#include "base/random.h"
#include "config/model.h"
#include "resilience/cluster_limits.h"
#include "resilience/host_breaker.h"
#include "resilience/outlier.h"
#include "resilience/retry_budget.h"
#include "runtime/timer_wheel.h"
#include "upstream/conn_pool.h"
#include "upstream/endpoint_source.h"
#include "upstream/host.h"
#include "upstream/load_balancer.h"
#include "upstream/stats.h"

namespace cw::upstream {

enum class HashOn { kSourceIp, kHeader, kCookie };

// Looks a std::string key up by string_view without building a string.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct ClusterSnapshot {
  std::string name;
  // The cluster's config. For a cluster whose hosts come from discovery, settings.endpoints is
  // what the file said; `hosts` is the set in force.
  config::Cluster settings;
  std::vector<HostPtr> hosts;
  std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>> index;  // key -> position
  uint64_t endpoints_version = 0;  // EndpointSet::version the hosts came from
  LbPolicy policy = LbPolicy::kRoundRobin;
  HashOn hash_on = HashOn::kSourceIp;
  std::string hash_name;  // header or cookie name for hash_on
  // Built once here (hash ring / Maglev table); each worker clones it with its own cursor/RNG.
  std::shared_ptr<const LoadBalancer> balancer;

  // Position of the host with this key, or -1. O(1).
  int find(std::string_view key) const {
    auto it = index.find(key);
    return it == index.end() ? -1 : static_cast<int>(it->second);
  }
};

// Builds a snapshot of `c` whose hosts are `endpoints`, reusing Host objects of `previous` by
// key (same address and weight) in O(n), so health state survives. Control thread; off the
// request path. Null with `error` set when the settings or the endpoints are refused.
std::shared_ptr<const ClusterSnapshot> build_cluster(const config::Cluster& c,
                                                     const EndpointSet& endpoints,
                                                     const ClusterSnapshot* previous,
                                                     std::string& error);
// The config path: hosts from the cluster's static endpoints (a StaticSource's set).
std::shared_ptr<const ClusterSnapshot> build_cluster(const config::Cluster& c,
                                                     const ClusterSnapshot* previous,
                                                     std::string& error);
// A small update (discovery, no config reload): `current`'s settings with a new endpoint set.
// Hand the result to each worker with Worker::update_cluster.
std::shared_ptr<const ClusterSnapshot> with_endpoints(const ClusterSnapshot& current,
                                                      const EndpointSet& endpoints,
                                                      std::string& error);

// The balancer's static view of a snapshot's hosts (key and weight, in order).
std::vector<LbHost> lb_hosts(const ClusterSnapshot& s);

// One host's state on one worker. Lives in a fixed array for the WorkerCluster's life, so the
// balancer can read `lb` in place and an armed timer never moves. Fields are written by
// WorkerCluster only, except `lb`'s latency estimate (record_latency) and the counters.
// lb.available = not backing off && (fit || the cluster is in panic mode), where fit = healthy,
// not ejected and the breaker admits; it is recomputed when one of those changes, never per pick.
struct HostRuntime {
  HostStats lb;               // what the balancer reads; lb.available is kept current
  int64_t down_until_ms = 0;  // end of the connect back-off; 0 when not backing off
  int consecutive_connect_failures = 0;
  bool healthy = true;              // this worker's view of health checks
  bool fit = false;                 // healthy, not ejected, breaker admits (cached for counts)
  bool serving = false;             // healthy and not ejected (slow start begins when it rises)
  int64_t slow_start_since_ms = 0;  // ramping up since; 0 = at full weight
  resilience::HostBreaker breaker;
  std::shared_ptr<ConnPool> pool;    // shared: a request in flight keeps it across generations
  HostCounters* counters = nullptr;  // in the worker's stats shard
  class WorkerCluster* owner = nullptr;
  uint32_t index = 0;           // position in the owner's hosts
  rt::TimerNode backoff_timer;  // armed while backing off; its expiry ends the back-off
  rt::TimerNode eject_timer;    // armed while ejected; its expiry brings the host back
  rt::TimerNode breaker_timer;  // armed while the breaker is open; expiry -> half-open

  HostRuntime() = default;
  HostRuntime(const HostRuntime&) = delete;
  HostRuntime& operator=(const HostRuntime&) = delete;
};

// The resilience settings of a cluster, with the defaults for absent keys.
resilience::OutlierSettings outlier_settings(const config::Cluster& c);
resilience::HostBreakerSettings host_breaker_settings(const config::Cluster& c);

class WorkerCluster {
 public:
  // previous: this cluster's view in the generation being replaced (or null); per-host state
  // (pool, back-off, health, latency estimate) is carried over by key in O(n) when the key
  // still names the same address. stats: this cluster's entry in the worker's shard;
  // registry_mu guards adding host entries (the admin thread iterates them). workers: how many
  // workers share the cluster's circuit-breaker limits (each enforces its share).
  WorkerCluster(std::shared_ptr<const ClusterSnapshot> snap, rt::EventLoop& loop, uint64_t seed,
                WorkerCluster* previous, ClusterStats& stats, std::mutex& registry_mu,
                int workers = 1);
  ~WorkerCluster();  // cancels armed timers
  WorkerCluster(const WorkerCluster&) = delete;
  WorkerCluster& operator=(const WorkerCluster&) = delete;

  // Told (on this worker's thread) when this worker ejects a host or ends its ejection, so the
  // control thread can follow (the registry marks the instance). Set right after construction;
  // the hook must outlive the cluster (the Worker owns it).
  using EjectionHook =
      std::function<void(const std::string& cluster, const std::string& key, bool ejected)>;
  void set_ejection_hook(const EjectionHook* hook) { ejection_hook_ = hook; }

  const ClusterSnapshot& snapshot() const { return *snap_; }
  const std::shared_ptr<const ClusterSnapshot>& snapshot_ptr() const { return snap_; }
  size_t size() const { return size_; }
  ClusterStats& stats() { return stats_shard_; }
  Host& host(size_t i) const { return *snap_->hosts[i]; }
  HostRuntime& runtime(size_t i) { return hosts_[i]; }
  int find(std::string_view key) const { return snap_->find(key); }
  bool available(size_t i) const { return hosts_[i].lb.available; }

  // Picks an available host (skipping `exclude`, -1 for none); -1 when none is available.
  // Availability is kept current by the events below, so a pick reads no per-host state the
  // policy does not need.
  int pick(const LbContext& ctx, int exclude = -1);
  // Outcome feedback: a failure takes the host out for a doubling back-off (a timer brings it
  // back); a success ends the back-off.
  void on_connect_failure(size_t i);
  void on_connect_success(size_t i);
  // Health checks and outlier ejection (by message from the control thread): takes a host out
  // of picks or back in. The key form returns false when the cluster has no such host.
  void set_host_health(size_t i, bool healthy);
  bool set_host_health(std::string_view key, bool healthy);
  // One call per finished try that picked host i (every pick is followed by exactly one):
  // feeds outlier detection and the host's breaker; may eject the host or open its breaker.
  void on_try_outcome(size_t i, resilience::Outcome o);

  bool in_panic() const { return panic_; }
  const resilience::OutlierDetector& outlier() const { return outlier_; }

  // Circuit breaker: this worker's shares of the cluster's limits. The counts they bound live in
  // stats() (shared by every generation, so a reload neither resets nor doubles them).
  const resilience::ClusterLimits& limits() const { return limits_; }
  // Counts a refusal by limit `l` (causeway_breaker_rejections_total).
  void reject(resilience::Limit l) { stats_shard_.breaker_rejections[size_t(l)].inc(); }
  // max_retries, for the retry loop: admits one more retry in flight and holds it in `hold`
  // (keep it through the backoff and the retry's try; release() or destruction frees it), or
  // counts the refusal and returns false (then answer with the last try's result).
  bool try_admit_retry(GaugeHold& hold);

  // The pool for a host key, shared with the next generation so connections survive reloads.
  std::shared_ptr<ConnPool> shared_pool(const std::string& key);

  // This worker's retry budget for the cluster (clusters[].retry_budget, on by default),
  // carried across generations so a reload or a host update does not refill it.
  resilience::RetryBudget& retry_budget() { return budget_; }

 private:
  static void on_backoff_end(rt::TimerNode* n);
  static void on_eject_end(rt::TimerNode* n);
  static void on_breaker_half_open(rt::TimerNode* n);
  static void on_interval(rt::TimerNode* n);
  // previous's state for `host` when it has the same key and address, else null.
  HostRuntime* carried_from(const Host& host);
  // Recomputes host i's fitness and availability (and the cluster's panic mode) after an event.
  void refresh(size_t i);
  bool apply_panic();  // panic_ from the fit count; true when it changed
  void set_available(HostRuntime& h) {
    h.lb.available = h.down_until_ms == 0 && (h.fit || panic_);
  }
  void eject(size_t i, resilience::EjectReason r);
  void publish_breaker(HostRuntime& h);
  // A pick landed on a host still ramping up (slow start) or half-open: admits it or picks again.
  int admit(const LbContext& ctx, int chosen, int exclude);
  int pick_without(const LbContext& ctx, int a, int b);

  std::shared_ptr<const ClusterSnapshot> snap_;
  const EjectionHook* ejection_hook_ = nullptr;
  rt::EventLoop& loop_;
  ClusterStats& stats_shard_;
  LoadBalancer lb_;
  resilience::ClusterLimits limits_;
  size_t size_;
  std::unique_ptr<HostRuntime[]> hosts_;  // never resized: armed timers and `lb` stay put
  resilience::RetryBudget budget_;
  resilience::OutlierDetector outlier_;
  resilience::HostBreakerSettings breaker_;
  double panic_threshold_ = 50;
  bool panic_ = false;
  size_t fit_count_ = 0;
  int64_t slow_window_ms_ = 0;  // 0 = slow start off (absent, or a hash policy)
  double slow_min_percent_ = 10;
  SplitMix64 rng_;
  rt::TimerNode interval_timer_;  // armed while outlier detection has something to judge
  std::vector<size_t> scratch_;   // hosts ejected by one interval
};

}  // namespace cw::upstream
