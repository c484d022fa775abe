// Stats shard registry. Thread contract: see stats.h.
#include "proxy/stats.h"

namespace cw::proxy {

RouteStats& WorkerStats::route(const std::string& listener, const std::string& route,
                               const std::string& cluster) {
  std::lock_guard lock(registry_mu);
  auto& slot = routes[listener + "\n" + route];
  if (!slot) {
    slot = std::make_unique<RouteStats>();
    slot->listener = listener;
    slot->route = route;
  }
  slot->cluster = cluster;
  return *slot;
}

upstream::ClusterStats& WorkerStats::cluster(const std::string& name) {
  std::lock_guard lock(registry_mu);
  auto& slot = clusters[name];
  if (!slot) slot = std::make_unique<upstream::ClusterStats>();
  return *slot;
}

}  // namespace cw::proxy
