// AdminServer: the admin listener (SPEC 6): /healthz, /ready, /metrics, /api/v1/clusters,
// /api/v1/listeners, /api/v1/config, /api/v1/reload. Serves HTTP/1.1 with our own codec on the
// control thread's loop, accepting with the runtime's Acceptor; bounded (connection limit that
// closes the oldest idle connection first, header-read and keep-alive idle timeouts); reads
// workers' stats shards without stopping them.
// Thread contract: constructed and run on the control thread; hooks are called there.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/counter.h"
#include "base/result.h"
#include "health/monitor.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "registry/registry.h"
#include "runtime/acceptor.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"
#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::admin {

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;  // formatted "file:line:col: key: message"
  uint64_t generation = 0;          // the snapshot generation now serving
  int workers_pending = 0;          // ok, but these workers did not acknowledge it in time
};

// The DNS server's counters, summed over its sockets (for /metrics).
struct DnsNumbers {
  uint64_t queries_udp = 0, queries_tcp = 0;
  uint64_t responses_udp = 0, responses_tcp = 0;
  uint64_t dropped = 0;    // nothing sent (responses, scraps, kernel refusals, TCP limits)
  uint64_t truncated = 0;  // UDP answers with TC set
  // Forwarding to recursors (names outside the domain), summed over every loop's forwarder.
  bool forwarding = false;
  uint64_t forwarded = 0;  // upstream exchanges started
  uint64_t forward_cache_hits = 0, forward_coalesced = 0, forward_timeouts = 0;
  uint64_t forward_servfail = 0, forward_overflow = 0, forward_stale = 0, forward_mismatched = 0;
  uint64_t forward_cache_entries = 0;
};

// The resolvers of the `discovery: dns` clusters, summed (for /metrics).
struct ResolverNumbers {
  uint64_t lookups = 0, queries = 0, coalesced = 0, failures = 0;
  uint64_t cache_hits = 0, cache_misses = 0, stale_served = 0, cache_entries = 0;
  uint64_t clusters = 0, clusters_stale = 0;  // dns clusters; those on their last good answer
};

// A `discovery: dns` cluster's resolution, for /api/v1/clusters ("dns").
struct DnsClusterView {
  std::string hostname;                // as configured: "api.internal:8080" or an SRV name
  std::string state;                   // resolving, resolved, stale or failed
  std::vector<std::string> addresses;  // the endpoints published now, "ip:port"
  uint32_t ttl_s = 0;                  // of the last answer
  int64_t next_refresh_in_ms = 0;
  std::string last_error;              // of the last failed refresh; empty after a success
};

struct AdminHooks {
  std::vector<proxy::Worker*> workers;
  // The snapshot workers are being given now.
  std::function<std::shared_ptr<const proxy::ProxySnapshot>()> snapshot;
  // Loads the config file again and applies it; a bad config changes nothing. A coroutine:
  // the admin connection waits for it (the workers' acknowledgements) while the control loop
  // keeps serving.
  std::function<rt::Task<ReloadOutcome>()> reload;
  // True once every listener is up and the process is not draining.
  std::function<bool()> ready;
  std::string version;
  // Optional: each listener key's bound address (port 0 resolved), as given to
  // Worker::install. /api/v1/listeners shows it; without it, the configured address.
  std::function<std::map<std::string, rt::SocketAddress>()> bound_listeners;
  // Optional: the active health checks (read-only, control thread), for /api/v1/clusters and
  // /metrics.
  std::function<const health::HealthMonitor*()> health;
  // Optional: the service registry (SPEC 5) behind /api/v1/services; without it those paths
  // answer 404 registry_disabled.
  std::function<registry::Registry*()> registry;
  // Optional: the DNS server's counters, when it runs.
  std::function<DnsNumbers()> dns;
  // Optional: a dns cluster's resolution state by cluster name (nullopt for other clusters).
  std::function<std::optional<DnsClusterView>(const std::string& cluster)> dns_cluster;
  // Absent, or nullopt, without dns clusters.
  std::function<std::optional<ResolverNumbers>()> resolver;
};


struct AdminLimits {
  // Open connections at most; when full, the oldest idle one (waiting for a request) is closed
  // to admit the new one, and without an idle one the new one is closed.
  size_t max_connections = 4096;
  int64_t header_read_timeout_ms = 5'000;  // the whole head (then the body) within this
  int64_t idle_timeout_ms = 5'000;         // keep-alive wait for the next request
};

// The admin listener's own counters (shown in /metrics). Control thread writes; any reads.
struct AdminCounters {
  rt::AcceptCounters accept;
  Gauge connections;  // open now
  Counter evicted;    // idle connections closed to admit a new one (limit reached or EMFILE)
  Counter refused;    // new connections closed at the limit with nothing idle to close
};

class AdminServer {
 public:
  AdminServer(rt::EventLoop& loop, AdminHooks hooks, AdminLimits limits = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and starts accepting; returns the bound address (port 0 resolved). Once per server.
  Result<rt::SocketAddress> listen(const rt::SocketAddress& addr);
  // Stops accepting and ends open admin connections (they stop calling hooks at once).
  void close();
  // Admin connections open now (at most limits.max_connections, plus those being closed).
  size_t connections() const;
  const AdminCounters& counters() const;

  // Exposed for tests: renders one request's response without sockets. Requires every hook
  // to answer without suspending (a reload that waits gives 503 here).
  struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow on 405
  };
  Response handle(std::string_view method, std::string_view target, std::string_view body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cw::admin
