// Cluster snapshots: built from an endpoint set and the cluster's settings, reusing the previous
// snapshot's hosts by key. Thread contract: see cluster.h (control thread builds).
#include "upstream/cluster.h"

#include "upstream/static_source.h"

namespace cw::upstream {

std::vector<LbHost> lb_hosts(const ClusterSnapshot& s) {
  std::vector<LbHost> out;
  out.reserve(s.hosts.size());
  for (const auto& h : s.hosts) out.push_back({h->key, h->weight});
  return out;
}

std::shared_ptr<const ClusterSnapshot> build_cluster(const config::Cluster& c,
                                                     const EndpointSet& endpoints,
                                                     const ClusterSnapshot* previous,
                                                     std::string& error) {
  auto snap = std::make_shared<ClusterSnapshot>();
  snap->name = c.name;
  snap->settings = c;
  if (!parse_lb_policy(c.lb, snap->policy)) {
    error = "cluster " + c.name + ": unknown lb " + c.lb;
    return nullptr;
  }
  if (c.hash_on.rfind("header:", 0) == 0) {
    snap->hash_on = HashOn::kHeader;
    snap->hash_name = c.hash_on.substr(7);
  } else if (c.hash_on.rfind("cookie:", 0) == 0) {
    snap->hash_on = HashOn::kCookie;
    snap->hash_name = c.hash_on.substr(7);
  }
  if (std::string bad = check_endpoints(endpoints.endpoints); !bad.empty()) {
    error = "cluster " + c.name + ": " + bad;
    return nullptr;
  }
  snap->endpoints_version = endpoints.version;
  const size_t n = endpoints.endpoints.size();
  snap->hosts.reserve(n);
  snap->index.reserve(n);
  for (const Endpoint& ep : endpoints.endpoints) {
    HostPtr host;
    const int j = previous ? previous->find(ep.key) : -1;
    const Host* same = j >= 0 && same_address(previous->hosts[size_t(j)]->address, ep.address)
                           ? previous->hosts[size_t(j)].get()
                           : nullptr;
    if (same && same->weight == ep.weight) {
      host = previous->hosts[size_t(j)];
    } else {
      host = std::make_shared<Host>(ep.key, ep.address, ep.weight);
      // A new weight makes a new Host (identity is immutable); its published health stays.
      if (same) host->healthy.store(same->healthy.load(std::memory_order_relaxed));
    }
    snap->index.emplace(host->key, uint32_t(snap->hosts.size()));
    snap->hosts.push_back(std::move(host));
  }
  snap->balancer = std::make_shared<const LoadBalancer>(snap->policy, lb_hosts(*snap), 0);
  return snap;
}

std::shared_ptr<const ClusterSnapshot> build_cluster(const config::Cluster& c,
                                                     const ClusterSnapshot* previous,
                                                     std::string& error) {
  auto source = StaticSource::from_config(c, error);
  if (!source) return nullptr;
  return build_cluster(c, *source->current(), previous, error);
}

std::shared_ptr<const ClusterSnapshot> with_endpoints(const ClusterSnapshot& current,
                                                      const EndpointSet& endpoints,
                                                      std::string& error) {
  return build_cluster(current.settings, endpoints, &current, error);
}

}  // namespace cw::upstream
