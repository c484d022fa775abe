// Sums the workers' stats shards into plain numbers for one admin read (/metrics, the JSON API).
// Thread contract: control thread; takes each shard's registry_mu while copying its maps.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "base/counter.h"
#include "proxy/errors.h"
#include "proxy/worker.h"
#include "resilience/cluster_limits.h"
#include "runtime/acceptor.h"

namespace cw::admin {

// A Histogram summed over shards (non-cumulative buckets, last = +Inf).
struct LatencySum {
  uint64_t buckets[Histogram::kBuckets + 1] = {};
  uint64_t sum_us = 0;
  uint64_t count = 0;

  void add(const Histogram& h);
  // Estimated q-quantile (0..1) in ms: linear inside the bucket holding the rank; samples in
  // the +Inf bucket report the last finite bound. nullopt when there are no samples.
  std::optional<double> quantile_ms(double q) const;
};

struct RouteSum {
  std::string listener;
  std::string route;
  std::string cluster;
  uint64_t by_status[600] = {};
  LatencySum latency;
  uint64_t faults[size_t(proxy::FaultKind::kCount)] = {};  // injected, by kind
};

struct HostSum {
  int64_t active_requests = 0;
  int64_t pending = 0;  // queued for a connection
  uint64_t requests = 0;
  uint64_t failures = 0;
  LatencySum latency;
  int64_t ewma_us = 0;  // the largest peak-EWMA latency over workers
  // Outlier detection and the host breaker, over workers (each judges its own traffic).
  int64_t ejected_workers = 0;        // workers that have the host ejected now
  int64_t ejected_until_wall_ms = 0;  // the latest end of those ejections
  int64_t times_ejected = 0;          // the largest back-off multiplier
  int64_t breaker[3] = {};            // workers whose breaker is closed / open / half_open
  uint64_t ejections[4] = {};         // by resilience::EjectReason (index 0 unused)
  uint64_t breaker_opens = 0;
};

struct ClusterSum {
  uint64_t requests = 0;
  uint64_t responses_by_class[6] = {};
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t reuses = 0;
  uint64_t stale_closed = 0;
  uint64_t idle_expired = 0;
  uint64_t pool_exhausted = 0;
  uint64_t reused_conn_resends = 0;
  uint64_t retries[size_t(upstream::RetryCause::kCount)] = {};
  uint64_t retry_budget_exhausted = 0;
  int64_t open_connections = 0;
  int64_t idle_connections = 0;
  // Circuit breaker: the counts its limits bound, refusals by limit (resilience::Limit), the
  // pool queue's timeouts and wait times.
  int64_t active_requests = 0;
  int64_t pending = 0;
  int64_t active_retries = 0;
  uint64_t breaker_rejections[size_t(resilience::Limit::kCount)] = {};
  uint64_t queue_timeouts = 0;
  LatencySum queue_wait;
  int64_t panic_workers = 0;  // workers whose view of the cluster is in panic mode now
  uint64_t panics = 0;        // times a worker entered panic mode
  std::map<std::string, HostSum> hosts;  // by host key

  // reuses / (reuses + connects); 0 when neither happened.
  double reuse_ratio() const;
};

struct StatsSum {
  size_t workers = 0;
  uint64_t errors[size_t(proxy::ProxyError::kCount)] = {};
  uint64_t requests = 0;
  uint64_t downstream_connections = 0;
  uint64_t downstream_denied = 0;
  int64_t downstream_active = 0;
  int64_t downstream_idle = 0;
  // Accept loops of the workers and of the admin listener together.
  uint64_t accept_errors[size_t(rt::AcceptError::kCount)] = {};
  uint64_t accept_shed = 0;
  int64_t admin_connections = 0;
  uint64_t admin_evicted = 0;
  uint64_t admin_refused = 0;
  std::map<std::string, RouteSum> routes;      // key: listener + "\n" + route (sorted)
  std::map<std::string, ClusterSum> clusters;  // by cluster name
};

// Reads every shard. Entries of routes and clusters a reload removed stay (counters never go
// backwards); callers that show the current config filter by the snapshot.
StatsSum sum_stats(const std::vector<proxy::Worker*>& workers);
// Adds the admin listener's own counters (its accept loop, connections).
void add_admin_counters(StatsSum& s, const AdminCounters& c);

}  // namespace cw::admin
