// ProxySnapshot: everything a worker needs to serve requests under one config, built on the
// control thread and shared read-only by all workers (swapped atomically on reload).
// Thread contract: immutable after build; any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "proxy/router.h"
#include "runtime/socket_address.h"
#include "upstream/cluster.h"

namespace cw::proxy {

// What a listener speaks: picks the handler that serves its connections (proxy/worker.cc). TLS
// with ALPN, h2c, TCP and UDP add an enumerator here and a row in that table.
enum class ListenerProtocol : uint8_t { kHttp, kCount };
std::optional<ListenerProtocol> parse_listener_protocol(std::string_view name);

struct ListenerSnapshot {
  config::Listener cfg;
  ListenerProtocol protocol = ListenerProtocol::kHttp;
  rt::SocketAddress address;
  int index = 0;  // position in ProxySnapshot::listeners
  // The identity of a bound socket across reloads: the address text, or for port 0
  // "name@address" (each port-0 listener has a kernel-chosen port of its own, kept by reloads).
  std::string key;
  std::unique_ptr<Router> router;  // HTTP listeners only (null for the others)

  ListenerSnapshot(const config::Listener& l, ListenerProtocol p,
                   const std::vector<std::string>& clusters);
  bool allowed(const rt::SocketAddress& peer) const;
  bool trusted_proxy(const rt::SocketAddress& peer) const;
};

struct ProxySnapshot {
  std::shared_ptr<const config::Config> config;
  // Shared, so a discovery update can make a new snapshot that differs in one cluster only.
  std::vector<std::shared_ptr<const ListenerSnapshot>> listeners;
  std::vector<std::shared_ptr<const upstream::ClusterSnapshot>> clusters;
  std::vector<std::string> cluster_names;
  uint64_t generation = 0;

  const ListenerSnapshot* listener(const std::string& key) const;
};

// The socket identity of a listener (see ListenerSnapshot::key).
std::string listener_key(const config::Listener& l);

// `snap` with one cluster replaced (same name; a discovery update): everything else shared,
// the generation kept (it counts config loads). Null when `snap` has no such cluster.
std::shared_ptr<const ProxySnapshot> with_cluster(
    const ProxySnapshot& snap, std::shared_ptr<const upstream::ClusterSnapshot> cluster);

// The endpoint set a discovered (non-static) cluster has now, from its source; null when the
// source knows nothing yet (the cluster then starts with no hosts).
using DiscoveredEndpoints =
    std::function<std::shared_ptr<const upstream::EndpointSet>(const config::Cluster&)>;

// Builds a snapshot; reuses hosts of `previous` by key. Static clusters take their config's
// endpoints, the others `discovered`'s set (none without it). Null with `error` set on failure.
std::shared_ptr<const ProxySnapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                                    const ProxySnapshot* previous,
                                                    std::string& error,
                                                    const DiscoveredEndpoints& discovered = {});

}  // namespace cw::proxy
