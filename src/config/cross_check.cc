// Checks across sections, after the walk: unique names, route -> cluster references, address
// clashes. Each is linear in the size of the config (hash tables, no pairwise loops), so a
// config with 100,000 listeners or endpoints is checked in well under a second.
#include <limits>
#include <unordered_map>

#include "config/did_you_mean.h"
#include "config/loader.h"
#include "config/net.h"

namespace cw::config::detail {
namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();

}  // namespace

void Loader::cross_check(const Config& c) {
  // Names are unique among clusters and among listeners. The views point into `c`.
  auto unique = [this](const auto& list, const std::vector<Site>& sites, std::string_view what,
                       std::unordered_map<std::string_view, size_t>& first) {
    first.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].name.empty()) continue;
      auto [it, fresh] = first.emplace(list[i].name, i);
      if (!fresh) {
        error(sites[i].mark, sites[i].path,
              "duplicate " + std::string(what) + " name '" + list[i].name +
                  "' (first defined at line " + std::to_string(sites[it->second].mark.line + 1) +
                  ")");
      }
    }
  };
  std::unordered_map<std::string_view, size_t> clusters, listeners;
  unique(c.clusters, cluster_name_sites_, "cluster", clusters);
  // A registry cluster follows this process's registry: there must be one.
  if (!c.registry) {
    for (size_t i = 0; i < c.clusters.size(); ++i) {
      if (c.clusters[i].discovery != "registry") continue;
      error(cluster_name_sites_[i].mark, cluster_name_sites_[i].path,
            "cluster '" + c.clusters[i].name +
                "' uses discovery: registry, but there is no registry: section (add "
                "`registry: { data_dir: ./causeway-data }`)");
    }
  }
  unique(c.listeners, listener_name_sites_, "listener", listeners);

  std::vector<std::string> cluster_names;  // for hints; filled on the first unknown reference
  for (const RouteRef& ref : route_refs_) {
    if (clusters.count(ref.cluster) != 0) continue;
    if (full()) {  // the error would be dropped: spare the hint's edit distances
      overflowed_ = true;
      continue;
    }
    if (cluster_names.empty()) {
      for (const Cluster& cl : c.clusters) {
        if (!cl.name.empty()) cluster_names.push_back(cl.name);
      }
    }
    error(ref.site.mark, ref.site.path,
          "unknown cluster '" + ref.cluster + "'" + hint(did_you_mean(ref.cluster, cluster_names)));
  }
  check_listener_addresses(c);
}

// Two sockets on one port clash when the hosts are equal or either is a wildcard (:: also
// takes IPv4 on a dual-stack host). Port 0 asks the kernel for a fresh port: never a clash.
// Each listener is reported against the first earlier listener it clashes with, which is the
// first on its port (when it is a wildcard), else the first at its host:port or the first
// wildcard on its port, whichever came first.
void Loader::check_listener_addresses(const Config& c) {
  struct PortUse {
    size_t first = kNone;
    size_t first_wildcard = kNone;
  };
  std::unordered_map<uint16_t, PortUse> ports;
  AddressIndex<Listener, &Listener::listen> same_address(c.listeners, c.listeners.size());
  for (size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    const Site& site = listener_listen_sites_[i];
    if (site.path.empty()) continue;  // no valid address
    if (l.listen.port != 0) {
      PortUse& use = ports[l.listen.port];
      const bool wildcard = is_wildcard(l.listen);
      const size_t at_address = same_address.add(i);
      size_t j = wildcard ? use.first : std::min(use.first_wildcard, at_address);
      if (j == i) j = kNone;
      if (use.first == kNone) use.first = i;
      if (wildcard && use.first_wildcard == kNone) use.first_wildcard = i;
      if (j != kNone) {
        const Listener& o = c.listeners[j];
        error(site.mark, site.path,
              "listener '" + l.name + "' listens on " + l.listen.text() +
                  ", which clashes with listener '" + o.name + "' on " + o.listen.text());
      }
    }
    const Address& admin = c.admin.listen;
    if (l.listen.port != 0 && l.listen.port == admin.port &&
        (l.listen.host == admin.host || is_wildcard(l.listen) || is_wildcard(admin))) {
      error(site.mark, site.path,
            "listener '" + l.name + "' listens on " + l.listen.text() +
                ", which clashes with the admin listener on " + admin.text());
    }
  }
}

}  // namespace cw::config::detail
