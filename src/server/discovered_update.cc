// Building a discovered cluster's update. Thread contract: see discovered_update.h.
#include "server/discovered_update.h"

#include "base/log.h"

namespace cw::server {
namespace {

// The cluster already has exactly these hosts (a set built for another snapshot may carry the
// same version number with other contents, so versions alone do not decide).
bool has_hosts(const upstream::ClusterSnapshot& cs, const upstream::EndpointSet& set) {
  if (cs.hosts.size() != set.endpoints.size()) return false;
  for (const upstream::Endpoint& e : set.endpoints) {
    const int i = cs.find(e.key);
    if (i < 0) return false;
    const upstream::Host& h = *cs.hosts[size_t(i)];
    if (h.weight != e.weight || !upstream::same_address(h.address, e.address)) return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<const upstream::ClusterSnapshot> discovered_update(
    const proxy::ProxySnapshot& snap, const std::string& name, std::string_view discovery,
    const upstream::EndpointSet& set) {
  for (const auto& cs : snap.clusters) {
    if (cs->name != name) continue;
    if (cs->settings.discovery != discovery || has_hosts(*cs, set)) return nullptr;
    std::string error;
    auto updated = upstream::with_endpoints(*cs, set, error);
    if (!updated) CW_WARN("cluster {}: {} update refused: {}", name, discovery, error);
    return updated;
  }
  return nullptr;
}

}  // namespace cw::server
