// The configuration model: plain structs that load.cc fills from YAML and the server reads.
// Thread contract: immutable once loaded; shared across workers as shared_ptr<const Config>.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

struct RetryPolicy {                       // parsed now, enforced by a later issue
  int attempts = 1;
  std::optional<Duration> per_try_timeout;
  std::vector<std::string> retry_on;       // connect-failure, reset, timeout, 5xx, 503, ...
  Duration backoff_base{25};
  Duration backoff_max{250};
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
};

struct AccessControl {
  std::vector<Cidr> allow;                 // empty = allow all
  std::vector<Cidr> deny;
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
};

struct Cluster {
  std::string name;
  std::string discovery = "static";
  std::vector<Endpoint> endpoints;
  std::string lb = "round_robin";          // round_robin, weighted_round_robin, least_request,
                                           // peak_ewma, random, ring_hash, maglev
  std::string hash_on = "source_ip";       // source_ip, header:NAME, cookie:NAME
  Duration connect_timeout{1000};
  std::string protocol = "http1";
  Pool pool;
};

struct Admin {
  Address listen{"127.0.0.1", 9901};
};

struct AccessLog {
  std::string path;                        // "stderr", "stdout" or a file path; empty = off
  std::string format = "json";
};

struct Config {
  std::string source;                      // file path it was loaded from
  int workers = 0;                         // 0 = auto (one per core)
  Admin admin;
  std::optional<AccessLog> access_log;
  Duration drain_timeout{15000};
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  // Key paths that were accepted and validated but that this version does not act on yet
  // (e.g. "registry", "clusters[0].health_check"); `causeway check` may list them.
  std::vector<std::string> unapplied_keys;
};

}  // namespace cw::config
