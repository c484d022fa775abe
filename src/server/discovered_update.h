// The step every discovery source's owner (registry clusters, DNS clusters) takes when a
// cluster's endpoint set changes: find the cluster in the current snapshot, and build its
// update unless its hosts already are that set. Thread contract: the control thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "proxy/snapshot.h"
#include "upstream/endpoint_source.h"

namespace cw::server {

// The cluster `name` of `snap` with `set` as its hosts, or null: no such cluster, its
// discovery is not `discovery` (a reload changed it), its hosts are already `set`, or the set
// was refused (logged, naming the cluster).
std::shared_ptr<const upstream::ClusterSnapshot> discovered_update(
    const proxy::ProxySnapshot& snap, const std::string& name, std::string_view discovery,
    const upstream::EndpointSet& set);

}  // namespace cw::server
