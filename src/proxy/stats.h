// A worker's stats shard: counters the worker bumps without locks, which the admin thread sums
// across workers on read. Entries are keyed by name so they survive reloads.
// Thread contract: counters written by the owning worker only; `registry_mu` guards the maps'
// structure (taken when a snapshot is installed and when the admin reads, never per request).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/counter.h"
#include "proxy/errors.h"
#include "proxy/spans.h"
#include "upstream/stats.h"

namespace cw::proxy {

struct RouteStats {
  std::string listener;
  std::string route;
  std::string cluster;
  Counter by_status[600];
  Histogram latency;
  Counter faults[size_t(FaultKind::kCount)];  // injected, by kind (fault.h)
};

struct WorkerStats {
  std::mutex registry_mu;
  std::map<std::string, std::unique_ptr<RouteStats>> routes;  // key: listener + "\n" + route
  std::map<std::string, std::unique_ptr<upstream::ClusterStats>> clusters;

  Counter errors[size_t(ProxyError::kCount)];
  Counter requests;
  Counter downstream_connections;
  Counter downstream_denied;  // refused by the listener ACL
  Gauge downstream_active;
  Gauge downstream_idle;  // keep-alive connections between requests

  // Finds or creates an entry (takes registry_mu).
  RouteStats& route(const std::string& listener, const std::string& route,
                    const std::string& cluster);
  upstream::ClusterStats& cluster(const std::string& name);
};

}  // namespace cw::proxy
