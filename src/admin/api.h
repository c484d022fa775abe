// The JSON API bodies: /api/v1/clusters, /api/v1/listeners, /api/v1/config, /api/v1/reload.
// Thread contract: control thread (reads the snapshot and summed stats shards).
#pragma once

#include <map>
#include <string>

#include "admin/admin_server.h"
#include "admin/config_json.h"
#include "admin/stats_sum.h"
#include "proxy/snapshot.h"

namespace cw::admin {

// Every cluster of the snapshot, its hosts with health, weight, load and latency percentiles;
// with `health`, each checked host's check state and last result ("check").
// With `dns_cluster`, each dns cluster's resolution state ("dns").
Json clusters_json(const proxy::ProxySnapshot& snap, const StatsSum& stats,
                   const health::HealthMonitor* health = nullptr,
                   const decltype(AdminHooks::dns_cluster)* dns_cluster = nullptr);
// One checked host's "check" object: state, last result, consecutive counts.
Json host_check_json(const health::HostHealth& h);
// Every listener: address (bound, when known), protocol, routes, ACLs.
Json listeners_json(const proxy::ProxySnapshot& snap,
                    const std::map<std::string, rt::SocketAddress>& bound);
// The loaded config plus "source" and "generation".
Json config_json(const proxy::ProxySnapshot& snap);
// 200 {"status":"reloaded","generation":N}; 202 {"status":"installing",...,
// "workers_pending":K} when a worker did not acknowledge in time; or 400
// {"error":"config_invalid","errors":[...],"generation":N} when refused (config, listener sockets).
AdminServer::Response reload_reply(const ReloadOutcome& outcome);

}  // namespace cw::admin
