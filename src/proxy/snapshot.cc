// Snapshot construction. Thread contract: the control thread builds; workers read.
#include "proxy/snapshot.h"

#include "config/net.h"

namespace cw::proxy {

static bool any_contains(const std::vector<config::Cidr>& list, const rt::SocketAddress& peer) {
  uint8_t bytes[16];
  bool v6 = false;
  if (!peer.ip_bytes(bytes, v6)) return false;
  for (const auto& c : list) {
    if (config::cidr_contains(c, v6, bytes)) return true;
  }
  return false;
}

bool ListenerSnapshot::allowed(const rt::SocketAddress& peer) const {
  if (any_contains(cfg.access.deny, peer)) return false;
  return cfg.access.allow.empty() || any_contains(cfg.access.allow, peer);
}

bool ListenerSnapshot::trusted_proxy(const rt::SocketAddress& peer) const {
  return any_contains(cfg.trusted_proxies, peer);
}

std::optional<ListenerProtocol> parse_listener_protocol(std::string_view name) {
  if (name == "http") return ListenerProtocol::kHttp;
  return std::nullopt;
}

ListenerSnapshot::ListenerSnapshot(const config::Listener& l, ListenerProtocol p,
                                   const std::vector<std::string>& clusters)
    : cfg(l), protocol(p) {
  if (p == ListenerProtocol::kHttp) router = std::make_unique<Router>(l, clusters);
}

std::string listener_key(const config::Listener& l) {
  if (l.listen.port == 0) return l.name + "@" + l.listen.text();
  return l.listen.text();
}

const ListenerSnapshot* ProxySnapshot::listener(const std::string& key) const {
  for (const auto& l : listeners) {
    if (l->key == key) return l.get();
  }
  return nullptr;
}

std::shared_ptr<const ProxySnapshot> build_snapshot(std::shared_ptr<const config::Config> cfg,
                                                    const ProxySnapshot* previous,
                                                    std::string& error,
                                                    const DiscoveredEndpoints& discovered) {
  auto snap = std::make_shared<ProxySnapshot>();
  snap->config = cfg;
  snap->generation = previous ? previous->generation + 1 : 1;
  for (const auto& c : cfg->clusters) {
    const upstream::ClusterSnapshot* prev = nullptr;
    if (previous) {
      for (const auto& pc : previous->clusters) {
        if (pc->name == c.name) prev = pc.get();
      }
    }
    std::shared_ptr<const upstream::ClusterSnapshot> cs;
    if (c.discovery == "static") {
      cs = upstream::build_cluster(c, prev, error);
    } else {
      std::shared_ptr<const upstream::EndpointSet> set = discovered ? discovered(c) : nullptr;
      cs = upstream::build_cluster(c, set ? *set : upstream::EndpointSet{}, prev, error);
    }
    if (!cs) return nullptr;
    snap->clusters.push_back(cs);
    snap->cluster_names.push_back(c.name);
  }
  for (const auto& l : cfg->listeners) {
    auto protocol = parse_listener_protocol(l.protocol);
    if (!protocol) {
      error =
          "listener " + l.name + ": protocol '" + l.protocol + "' is not served by this version";
      return nullptr;
    }
    auto ls = std::make_unique<ListenerSnapshot>(l, *protocol, snap->cluster_names);
    auto addr = rt::SocketAddress::from_ip_port(l.listen.host, l.listen.port);
    if (!addr) {
      error = "listener " + l.name + ": bad address " + l.listen.text();
      return nullptr;
    }
    ls->address = *addr;
    ls->key = listener_key(l);
    ls->index = int(snap->listeners.size());
    snap->listeners.push_back(std::move(ls));
  }
  return snap;
}

std::shared_ptr<const ProxySnapshot> with_cluster(
    const ProxySnapshot& snap, std::shared_ptr<const upstream::ClusterSnapshot> cluster) {
  for (size_t i = 0; i < snap.clusters.size(); ++i) {
    if (snap.clusters[i]->name != cluster->name) continue;
    auto out = std::make_shared<ProxySnapshot>();
    out->config = snap.config;
    out->listeners = snap.listeners;
    out->clusters = snap.clusters;
    out->clusters[i] = std::move(cluster);
    out->cluster_names = snap.cluster_names;
    out->generation = snap.generation;
    return out;
  }
  return nullptr;
}

}  // namespace cw::proxy
