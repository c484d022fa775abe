// The configuration model: plain structs that load.cc fills from YAML and the server reads.
// Thread contract: immutable once loaded; shared across workers as shared_ptr<const Config>.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/latency_dist.h"

namespace cw::config {

using Duration = std::chrono::milliseconds;

// "127.0.0.1:8080", "[::1]:80", "0.0.0.0:8080". Kept as text; validated at load.
struct Address {
  std::string host;  // IP literal (no brackets)
  uint16_t port = 0;
  std::string text() const;  // "127.0.0.1:8080" or "[::1]:80"
};

// A CIDR block such as 10.0.0.0/8 or ::1/128.
struct Cidr {
  std::string text;          // as written
  bool v6 = false;
  uint8_t addr[16] = {};     // network bytes (first 4 used for v4)
  uint8_t prefix = 0;
};

struct HeaderMatch {
  std::string name;
  std::optional<std::string> exact;    // value must equal
  std::optional<std::string> regex;    // value must fully match (RE2)
  bool present = false;                // only presence is required (when exact/regex absent)
};

struct RouteMatch {
  std::optional<std::string> path;         // exact path
  std::optional<std::string> path_prefix;
  std::optional<std::string> path_regex;   // RE2, full match on the path
  std::optional<std::string> host;         // exact (case-insensitive, port ignored) or "*.example.com"
  std::vector<std::string> methods;        // `method: GET` or `method: [GET, POST]`; empty = any
  std::vector<HeaderMatch> headers;        // all must match
};

struct DirectResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
};

struct Redirect {
  std::string location;   // absolute URL or path
  int status = 302;       // 301, 302, 303, 307, 308
};

// routes[].retry (SPEC 4). A route without one retries a connect failure once on another host
// (proxy/retry_policy.h); `attempts: 1` turns even that off.
struct RetryPolicy {
  int attempts = 1;                        // every try counts, the first included
  std::optional<Duration> per_try_timeout;
  std::vector<std::string> retry_on;       // connect-failure, refused, reset, timeout, 5xx, 503, ...
  Duration backoff_base{25};
  Duration backoff_max{250};
  bool non_idempotent = false;             // re-send a POST/PATCH that may have reached the upstream
};

// routes[].fault (SPEC 4: fault injection per route; proxy/fault.h injects it).
// Each part fires on its own share of requests; absent parts never fire.
struct FaultDelay {
  double percent = 0;                      // 0-100 of requests are held back
  LatencyDist duration;                    // for a draw of this before being forwarded
};

struct FaultAbort {
  double percent = 0;                      // 0-100 of requests are answered by the proxy
  int status = 503;                        // with this status (200-599)
};

struct FaultReset {
  double percent = 0;                      // 0-100 of requests have the connection reset
};

struct FaultThrottle {
  double percent = 0;                      // 0-100 of responses have their body paced
  uint64_t bytes_per_second = 0;           // to this rate
};

struct Fault {
  std::optional<FaultDelay> delay;
  std::optional<FaultAbort> abort;
  std::optional<FaultReset> reset;
  std::optional<FaultThrottle> throttle;
};

struct Route {
  std::string name;                        // optional; defaults to "<listener>/<index>"
  RouteMatch match;
  std::string cluster;                     // exactly one of cluster, direct_response, redirect
  std::optional<DirectResponse> direct_response;
  std::optional<Redirect> redirect;
  Duration timeout{15000};                 // whole request, all tries
  std::optional<Duration> idle_timeout;    // per route stream idle; default listener's
  std::optional<RetryPolicy> retry;
  std::optional<Fault> fault;
};

struct AccessControl {
  std::vector<Cidr> allow;                 // empty = allow all
  std::vector<Cidr> deny;
};

struct TlsCertificate {
  std::string cert;                        // PEM file paths, as written
  std::string key;
};

// listeners[].tls. Validated and carried; not served yet (protocol https is refused).
struct Tls {
  std::vector<TlsCertificate> certificates;  // at least one; SNI picks among several
};

struct Listener {
  std::string name;
  Address listen;
  std::string protocol = "http";           // only http in this issue
  AccessControl access;
  std::vector<Cidr> trusted_proxies;
  Duration header_read_timeout{10000};     // slowloris guard: whole head must arrive within
  Duration idle_timeout{60000};            // keep-alive idle between requests
  Duration body_read_timeout{30000};       // longest wait for the next request body bytes
  size_t max_header_bytes = 64 * 1024;
  size_t max_headers = 100;
  std::optional<Tls> tls;                  // carried, not applied yet (unapplied_keys)
  std::vector<Route> routes;
};

struct Endpoint {
  Address address;
  uint32_t weight = 1;
};

struct Pool {
  size_t max_connections = 1024;           // per worker per host
  size_t max_idle = 64;                    // per worker per host
  Duration idle_timeout{60000};
  // A try that finds its host's pool full waits this long in the pool's FIFO queue (bounded by
  // circuit_breaker.max_pending, never past the route timeout), then 503; 0 = no queue.
  Duration queue_timeout{1000};
};

// The resilience settings below (SPEC 4) are validated and carried into the model with the
// defaults documented in docs/config.md, but not acted on yet: each one present is listed in
// Config::unapplied_keys. Absent = the user did not configure it.

// clusters[].health_check: active checks of every host.
struct HealthCheck {
  enum class Kind { kTcp, kHttp };
  Kind kind = Kind::kTcp;                  // `http: PATH` -> kHttp; `tcp: true` or neither -> kTcp
  std::string http_path;                   // kHttp: the path to GET, e.g. "/healthz"
  Duration interval{2000};                 // between checks of one host
  Duration timeout{1000};                  // for one check
  uint32_t unhealthy_threshold = 3;        // consecutive failures that mark a host unhealthy
  uint32_t healthy_threshold = 2;          // consecutive successes that mark it healthy again
  std::string host;                        // kHttp: the Host header; empty = the host's address
  struct StatusRange {
    int lo = 200;
    int hi = 399;                          // inclusive
    friend bool operator==(const StatusRange&, const StatusRange&) = default;
  };
  // kHttp: statuses that pass. 200-399 as HAProxy and Kubernetes probes (docs/resilience.md).
  std::vector<StatusRange> expected_statuses{StatusRange{}};
  double jitter_percent = 10;              // each interval drawn in interval * (1 +- jitter%)
  friend bool operator==(const HealthCheck&, const HealthCheck&) = default;
};

// clusters[].outlier_detection: passive ejection from real traffic, per worker. On with these
// defaults when the key is absent; `enabled: false` turns it off.
struct OutlierDetection {
  bool enabled = true;
  uint32_t consecutive_5xx = 5;            // 0 = this detector off
  uint32_t consecutive_gateway_failure = 5;  // 502, 503, 504, connect failures; 0 = off
  Duration base_ejection_time{30000};      // first ejection; grows with each repeat
  double max_ejection_percent = 10;        // at most this share of hosts ejected at once
  Duration max_ejection_time{300000};      // cap of base x times ejected
  Duration interval{10000};                // success-rate judgement and back-off decay period
  uint32_t success_rate_minimum_hosts = 5;
  uint32_t success_rate_request_volume = 100;  // per worker per interval
  double success_rate_stdev_factor = 1.9;  // 0 = success-rate detection off
};

// clusters[].circuit_breaker.host: per-host breaker (on by default; consecutive_failures 0 = off).
struct HostCircuitBreaker {
  uint32_t consecutive_failures = 5;       // gateway failures in a row that open it
  Duration open_time{10000};               // open before half-open; doubles per failed probe
  uint32_t half_open_requests = 1;         // probes in flight while half-open
};

// clusters[].slow_start: a new or returning host's share ramps up over `window`.
struct SlowStart {
  Duration window{30000};
  double min_weight_percent = 10;
};

// clusters[].circuit_breaker: per-cluster limits that fail fast with 503 (0 = nothing allowed).
// Applied whether or not the key is present (these are the defaults), each worker enforcing
// its share (resilience/cluster_limits.h); max_retries is checked by the retry loop.
struct CircuitBreaker {
  uint32_t max_connections = 1024;
  uint32_t max_pending = 1024;
  uint32_t max_requests = 1024;
  uint32_t max_retries = 3;
  HostCircuitBreaker host;                 // applied even when circuit_breaker is absent
};

// clusters[].retry_budget: retries at most `percent` of requests, but always allow
// `min_per_second` so that a quiet cluster can still retry.
struct RetryBudget {
  double percent = 20;
  uint32_t min_per_second = 10;
};

struct Cluster {
  std::string name;
  std::string discovery = "static";        // static, registry or dns
  std::string service;                     // registry: the registry service to follow
  // dns: the name to resolve, lowercased, no port ("api.internal", or "_api._tcp.internal":
  // a name starting with '_' is looked up as SRV, which gives the ports).
  std::string hostname;
  uint16_t hostname_port = 0;              // dns: the port of every A/AAAA address; 0 for SRV
  std::vector<Address> resolvers;          // dns: the servers to ask; empty = /etc/resolv.conf
  std::vector<Endpoint> endpoints;         // static only
  std::string lb = "round_robin";          // round_robin, weighted_round_robin, least_request,
                                           // peak_ewma, random, ring_hash, maglev
  std::string hash_on = "source_ip";       // source_ip, header:NAME, cookie:NAME
  Duration connect_timeout{1000};
  std::string protocol = "http1";
  Pool pool;
  std::optional<HealthCheck> health_check;  // applied: health/ (active checks)
  std::optional<OutlierDetection> outlier_detection;
  std::optional<CircuitBreaker> circuit_breaker;
  std::optional<RetryBudget> retry_budget;  // absent = the defaults: on
  double panic_threshold = 50;             // percent of fit hosts below which picks use all
  std::optional<SlowStart> slow_start;     // absent = off
};

struct Admin {
  Address listen{"127.0.0.1", 9901};
};

struct AccessLog {
  std::string path;                        // "stderr", "stdout" or a file path; empty = off
  std::string format = "json";
};

// registry (SPEC 5).
struct Etcd {
  std::vector<std::string> endpoints{"http://127.0.0.1:2379"};
  std::string prefix = "/causeway/";
};

struct Registry {
  std::string backend = "embedded";        // embedded (SQLite in data_dir) or etcd
  std::string data_dir = "./causeway-data";  // embedded only
  Etcd etcd;                               // read with backend: etcd
};

// dns (SPEC 5): the internal DNS server and its forwarding to recursors.
struct Dns {
  Address listen{"127.0.0.1", 8600};
  std::string domain = "internal";
  Duration ttl{5000};
  std::vector<Address> recursors;          // a bare IP means port 53
};

struct Config {
  std::string source;                      // file path it was loaded from
  int workers = 0;                         // 0 = auto (one per core)
  Admin admin;
  std::optional<AccessLog> access_log;
  std::optional<Registry> registry;        // the service registry (SPEC 5)
  std::optional<Dns> dns;                  // the internal DNS server (SPEC 5)
  Duration drain_timeout{15000};
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  // Key paths that were accepted, validated and carried into the model above but that this
  // version does not act on yet (e.g. "registry", "clusters[0].health_check"); `causeway
  // check` lists them.
  std::vector<std::string> unapplied_keys;
};

}  // namespace cw::config
