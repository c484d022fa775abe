// ProxySnapshot: everything a worker needs to serve requests under one config, built on the
// control thread and shared read-only by all workers (swapped atomically on reload).
// Thread contract: immutable after build; any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "proxy/router.h"
#include "runtime/socket_address.h"
#include "upstream/cluster.h"

namespace cw::proxy {

struct ListenerSnapshot {
  config::Listener cfg;
  rt::SocketAddress address;
  int index = 0;    // position in ProxySnapshot::listeners
  std::string key;  // address text: the identity of a bound socket across reloads
  Router router;

  ListenerSnapshot(const config::Listener& l, const std::vector<std::string>& clusters)
      : cfg(l), router(l, clusters) {}
  bool allowed(const rt::SocketAddress& peer) const;
  bool trusted_proxy(const rt::SocketAddress& peer) const;
};

struct ProxySnapshot {
  std::shared_ptr<const config::Config> config;
  std::vector<std::unique_ptr<ListenerSnapshot>> listeners;
  std::vector<std::shared_ptr<const upstream::ClusterSnapshot>> clusters;
  std::vector<std::string> cluster_names;
  uint64_t generation = 0;

  const ListenerSnapshot* listener(const std::string& key) const;
};

// Builds a snapshot; reuses hosts of `previous` by key. Null with `error` set on failure.
std::shared_ptr<const ProxySnapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                                    const ProxySnapshot* previous,
                                                    std::string& error);

}  // namespace cw::proxy
