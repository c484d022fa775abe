#include "config/load.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "test_helpers.h"

namespace cw::config {
namespace {

using std::chrono::milliseconds;

using test::dump;
using test::load_ok;

// The SPEC section 2 sketch, with the features this version refuses swapped out:
// discovery: registry -> static endpoints; plus the `web` cluster the sketch refers to.
constexpr std::string_view kSpecExample =
    R"(workers:  auto                          # event-loop threads; auto = one per core
admin:    { listen: 127.0.0.1:9901 }
access_log: { path: stderr, format: json }  # optional
registry: { backend: embedded, data_dir: ./causeway-data }   # or backend: etcd, etcd: {endpoints: [...], prefix: /causeway/}
dns:      { listen: 127.0.0.1:8600, domain: internal, ttl: 5s, recursors: [] }
listeners:
  - name: edge
    listen: 0.0.0.0:8080
    protocol: http            # http (HTTP/1.1 + h2c), https (TLS with ALPN h2/http/1.1), tcp (L4)
    tls: { certificates: [{ cert: a.pem, key: a.key }] }      # SNI picks among several
    access: { allow: [10.0.0.0/8, 192.168.0.0/16], deny: [] } # CIDR ACL
    trusted_proxies: [127.0.0.0/8]    # whose X-Forwarded-For is kept
    routes:
      - match: { path_prefix: /api/ }   # also: path, path_regex, host, headers, method
        cluster: api
        timeout: 3s                     # whole request, all tries
        retry: { attempts: 2, per_try_timeout: 1s, retry_on: [connect-failure, reset, 503], backoff: { base: 25ms, max: 250ms } }
        fault: { delay: { percent: 10, duration: 200ms }, abort: { percent: 1, status: 503 } }
      - match: { path_prefix: / }
        cluster: web
clusters:
  - name: api
    discovery: static
    endpoints: [127.0.0.1:9101, 127.0.0.1:9102, 127.0.0.1:9103]
    lb: least_request         # round_robin, weighted_round_robin, least_request (P2C), peak_ewma, random, ring_hash, maglev
    hash_on: header:x-user-id # for ring_hash/maglev: source_ip, header:NAME, cookie:NAME
    connect_timeout: 1s
    protocol: http1           # http1 or http2 to the upstream
    pool: { max_connections: 1024, max_idle: 64, idle_timeout: 60s }
    health_check: { http: /healthz, interval: 2s, timeout: 1s, unhealthy_threshold: 3, healthy_threshold: 2 }
    outlier_detection: { consecutive_5xx: 5, consecutive_gateway_failure: 5, base_ejection_time: 30s, max_ejection_percent: 50 }
    circuit_breaker: { max_connections: 1024, max_pending: 1024, max_requests: 1024, max_retries: 3 }
    retry_budget: { percent: 20, min_per_second: 10 }
  - name: web
    endpoints: [127.0.0.1:9001]
)";

TEST(LoadConfig, SpecExampleLoads) {
  auto c = load_ok(kSpecExample);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->source, "t.yaml");
  EXPECT_EQ(c->workers, 0);
  EXPECT_EQ(c->admin.listen.text(), "127.0.0.1:9901");
  ASSERT_TRUE(c->access_log);
  EXPECT_EQ(c->access_log->path, "stderr");
  EXPECT_EQ(c->access_log->format, "json");

  ASSERT_EQ(c->listeners.size(), 1u);
  const Listener& l = c->listeners[0];
  EXPECT_EQ(l.name, "edge");
  EXPECT_EQ(l.listen.text(), "0.0.0.0:8080");
  EXPECT_EQ(l.protocol, "http");
  ASSERT_EQ(l.access.allow.size(), 2u);
  EXPECT_EQ(l.access.allow[1].text, "192.168.0.0/16");
  EXPECT_TRUE(l.access.deny.empty());
  ASSERT_EQ(l.trusted_proxies.size(), 1u);
  ASSERT_EQ(l.routes.size(), 2u);

  const Route& api = l.routes[0];
  EXPECT_EQ(api.name, "edge/0");
  EXPECT_EQ(api.match.path_prefix, "/api/");
  EXPECT_EQ(api.cluster, "api");
  EXPECT_EQ(api.timeout, milliseconds(3000));
  ASSERT_TRUE(api.retry);
  EXPECT_EQ(api.retry->attempts, 2);
  EXPECT_EQ(api.retry->per_try_timeout, milliseconds(1000));
  EXPECT_EQ(api.retry->retry_on, (std::vector<std::string>{"connect-failure", "reset", "503"}));
  EXPECT_EQ(api.retry->backoff_base, milliseconds(25));
  EXPECT_EQ(api.retry->backoff_max, milliseconds(250));
  EXPECT_EQ(l.routes[1].name, "edge/1");
  EXPECT_EQ(l.routes[1].cluster, "web");

  ASSERT_EQ(c->clusters.size(), 2u);
  const Cluster& cl = c->clusters[0];
  EXPECT_EQ(cl.name, "api");
  EXPECT_EQ(cl.discovery, "static");
  ASSERT_EQ(cl.endpoints.size(), 3u);
  EXPECT_EQ(cl.endpoints[2].address.text(), "127.0.0.1:9103");
  EXPECT_EQ(cl.endpoints[2].weight, 1u);
  EXPECT_EQ(cl.lb, "least_request");
  EXPECT_EQ(cl.hash_on, "header:x-user-id");
  EXPECT_EQ(cl.connect_timeout, milliseconds(1000));
  EXPECT_EQ(cl.protocol, "http1");
  EXPECT_EQ(cl.pool.max_connections, 1024u);
  EXPECT_EQ(cl.pool.max_idle, 64u);
  EXPECT_EQ(cl.pool.idle_timeout, milliseconds(60'000));
  EXPECT_EQ(cl.pool.queue_timeout, milliseconds(1000));  // the default

  // Accepted, validated, but not acted on by this version.
  EXPECT_EQ(c->unapplied_keys,
            (std::vector<std::string>{"listeners[0].tls"}));
}

TEST(LoadConfig, ExampleFileLoads) {
  // tests/unit/config/load_test.cc -> repository root.
  const std::filesystem::path root =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
  const std::string path = (root / "examples" / "causeway.yaml").string();
  LoadResult r = load_config_file(path);
  ASSERT_TRUE(r.ok()) << dump(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.admin.listen.text(), "127.0.0.1:9901");
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].listen.text(), "127.0.0.1:8080");
  ASSERT_EQ(c.listeners[0].routes.size(), 3u);
  EXPECT_EQ(c.listeners[0].routes[0].match.path_prefix, "/api/");
  EXPECT_EQ(c.listeners[0].routes[0].cluster, "api");
  EXPECT_EQ(c.listeners[0].routes[1].match.path_prefix, "/auth/");
  EXPECT_EQ(c.listeners[0].routes[1].cluster, "auth");
  EXPECT_EQ(c.listeners[0].routes[2].match.path_prefix, "/");
  EXPECT_EQ(c.listeners[0].routes[2].cluster, "web");
  const auto api = std::find_if(c.clusters.begin(), c.clusters.end(),
                                [](const Cluster& cl) { return cl.name == "api"; });
  ASSERT_NE(api, c.clusters.end());
  EXPECT_EQ(api->lb, "least_request");
  ASSERT_EQ(api->endpoints.size(), 3u);
  EXPECT_EQ(api->endpoints[0].address.text(), "127.0.0.1:9101");
  EXPECT_EQ(api->endpoints[1].address.text(), "127.0.0.1:9102");
  EXPECT_EQ(api->endpoints[2].address.text(), "127.0.0.1:9103");
  EXPECT_TRUE(c.unapplied_keys.empty());
}

constexpr std::string_view kMinimal = R"(listeners:
  - name: edge
    listen: 127.0.0.1:0
    routes:
      - match: { path_prefix: / }
        cluster: web
clusters:
  - name: web
    endpoints: [127.0.0.1:9001]
)";

TEST(LoadConfig, DefaultsComeFromTheModel) {
  auto c = load_ok(kMinimal);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->workers, 0);
  EXPECT_EQ(c->admin.listen.text(), "127.0.0.1:9901");
  EXPECT_FALSE(c->access_log);
  EXPECT_EQ(c->drain_timeout, milliseconds(15'000));
  const Listener& l = c->listeners[0];
  EXPECT_EQ(l.listen.port, 0);  // port 0 is fine for a listener
  EXPECT_EQ(l.header_read_timeout, milliseconds(10'000));
  EXPECT_EQ(l.idle_timeout, milliseconds(60'000));
  EXPECT_EQ(l.max_header_bytes, 64u * 1024);
  EXPECT_EQ(l.max_headers, 100u);
  const Route& r = l.routes[0];
  EXPECT_EQ(r.timeout, milliseconds(15'000));
  EXPECT_FALSE(r.idle_timeout);
  EXPECT_FALSE(r.retry);
  const Cluster& cl = c->clusters[0];
  EXPECT_EQ(cl.lb, "round_robin");
  EXPECT_EQ(cl.hash_on, "source_ip");
  EXPECT_EQ(cl.connect_timeout, milliseconds(1000));
  EXPECT_EQ(cl.pool.max_connections, 1024u);
}

TEST(LoadConfig, ParsesEveryListenerRouteAndClusterField) {
  auto c = load_ok(R"(workers: 4
admin: { listen: "[::1]:0" }
access_log: { path: /var/log/causeway.log, format: text }
drain_timeout: 0
listeners:
  - name: edge
    listen: "[::]:8443"
    access: { allow: ["::1/128", 127.0.0.1], deny: [10.0.0.0/8] }
    header_read_timeout: 2s
    idle_timeout: 1m30s
    max_header_bytes: 32KiB
    max_headers: 50
    routes:
      - name: health
        match: { path: /healthz, method: [GET, HEAD] }
        direct_response: { status: 200, body: "ok\n", content_type: text/plain }
      - name: old
        match: { path_regex: "^/old/.*$", host: "*.Example.com" }
        redirect: { location: "https://example.com/new", status: 308 }
      - name: api
        match:
          path_prefix: /api/
          method: POST
          headers:
            - { name: X-Tenant, exact: acme }
            - { name: x-version, regex: "v[0-9]+" }
            - { name: authorization, present: true }
        cluster: api
        timeout: 250ms
        idle_timeout: 5s
        retry: { attempts: 3, retry_on: [5xx, gateway-error, refused], non_idempotent: true }
clusters:
  - name: api
    lb: ring_hash
    hash_on: header:X-User
    endpoints:
      - localhost:9101
      - { address: "[::1]:9102", weight: 5 }
    connect_timeout: 500ms
    pool: { max_connections: 10, max_idle: 0, idle_timeout: 10s, queue_timeout: 0s }
)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->workers, 4);
  EXPECT_EQ(c->admin.listen.text(), "[::1]:0");
  EXPECT_EQ(c->access_log->format, "text");
  EXPECT_EQ(c->drain_timeout, milliseconds(0));
  const Listener& l = c->listeners[0];
  EXPECT_EQ(l.listen.text(), "[::]:8443");
  EXPECT_EQ(l.access.allow.size(), 2u);
  EXPECT_EQ(l.access.allow[1].prefix, 32);
  EXPECT_EQ(l.access.deny.size(), 1u);
  EXPECT_EQ(l.header_read_timeout, milliseconds(2000));
  EXPECT_EQ(l.idle_timeout, milliseconds(90'000));
  EXPECT_EQ(l.max_header_bytes, 32u * 1024);
  EXPECT_EQ(l.max_headers, 50u);
  ASSERT_EQ(l.routes.size(), 3u);

  const Route& health = l.routes[0];
  EXPECT_EQ(health.name, "health");
  EXPECT_EQ(health.match.path, "/healthz");
  EXPECT_EQ(health.match.methods, (std::vector<std::string>{"GET", "HEAD"}));
  ASSERT_TRUE(health.direct_response);
  EXPECT_EQ(health.direct_response->status, 200);
  EXPECT_EQ(health.direct_response->body, "ok\n");
  EXPECT_TRUE(health.cluster.empty());

  const Route& old = l.routes[1];
  EXPECT_EQ(old.match.path_regex, "^/old/.*$");
  EXPECT_EQ(old.match.host, "*.example.com");  // lowercased
  ASSERT_TRUE(old.redirect);
  EXPECT_EQ(old.redirect->location, "https://example.com/new");
  EXPECT_EQ(old.redirect->status, 308);

  const Route& api = l.routes[2];
  EXPECT_EQ(api.match.path_prefix, "/api/");
  EXPECT_EQ(api.match.methods, (std::vector<std::string>{"POST"}));
  ASSERT_EQ(api.match.headers.size(), 3u);
  EXPECT_EQ(api.match.headers[0].name, "x-tenant");  // lowercased
  EXPECT_EQ(api.match.headers[0].exact, "acme");
  EXPECT_EQ(api.match.headers[1].regex, "v[0-9]+");
  EXPECT_TRUE(api.match.headers[2].present);
  EXPECT_EQ(api.timeout, milliseconds(250));
  EXPECT_EQ(api.idle_timeout, milliseconds(5000));
  ASSERT_TRUE(api.retry);
  EXPECT_EQ(api.retry->attempts, 3);
  EXPECT_FALSE(api.retry->per_try_timeout);
  EXPECT_EQ(api.retry->backoff_base, milliseconds(25));  // defaults
  EXPECT_EQ(api.retry->retry_on, (std::vector<std::string>{"5xx", "gateway-error", "refused"}));
  EXPECT_TRUE(api.retry->non_idempotent);

  const Cluster& cl = c->clusters[0];
  EXPECT_EQ(cl.lb, "ring_hash");
  EXPECT_EQ(cl.hash_on, "header:x-user");
  ASSERT_EQ(cl.endpoints.size(), 2u);
  EXPECT_EQ(cl.endpoints[0].address.text(), "127.0.0.1:9101");
  EXPECT_EQ(cl.endpoints[1].address.text(), "[::1]:9102");
  EXPECT_EQ(cl.endpoints[1].weight, 5u);
  EXPECT_EQ(cl.connect_timeout, milliseconds(500));
  EXPECT_EQ(cl.pool.max_connections, 10u);
  EXPECT_EQ(cl.pool.max_idle, 0u);
  EXPECT_EQ(cl.pool.queue_timeout, milliseconds(0));  // 0 = no queue: a full pool answers 503
}

TEST(LoadConfig, WorkersAutoIsZero) {
  auto c = load_ok(std::string("workers: auto\n") + std::string(kMinimal));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->workers, 0);
}

TEST(LoadConfig, MergeKeysShareSettings) {
  auto c = load_ok(R"(listeners:
  - name: edge
    listen: 127.0.0.1:0
    routes:
      - match: { path_prefix: / }
        cluster: a
clusters:
  - &base { name: a, lb: random, connect_timeout: 2s, endpoints: [127.0.0.1:1] }
  - <<: *base
    name: b
)");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->clusters.size(), 2u);
  EXPECT_EQ(c->clusters[1].name, "b");  // explicit key wins
  EXPECT_EQ(c->clusters[1].lb, "random");
  EXPECT_EQ(c->clusters[1].connect_timeout, milliseconds(2000));
}

TEST(LoadConfig, PortZeroListenersNeverClash) {
  auto c = load_ok(R"(admin: { listen: 127.0.0.1:0 }
listeners:
  - { name: a, listen: 127.0.0.1:0, routes: [{ match: { path: / }, direct_response: { status: 204 } }] }
  - { name: b, listen: 127.0.0.1:0, routes: [{ match: { path: / }, direct_response: { status: 204 } }] }
)");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listeners.size(), 2u);
  EXPECT_TRUE(c->clusters.empty());
}

TEST(LoadConfig, DifferentHostsOnOnePortDoNotClash) {
  auto c = load_ok(R"(listeners:
  - { name: a, listen: 127.0.0.1:8080, routes: [{ match: { path: / }, direct_response: {} }] }
  - { name: b, listen: 127.0.0.2:8080, routes: [{ match: { path: / }, direct_response: {} }] }
  - { name: c, listen: 127.0.0.1:8081, routes: [{ match: { path: / }, direct_response: {} }] }
)");
  ASSERT_TRUE(c);
}

}  // namespace
}  // namespace cw::config

namespace cw::config {
namespace {

TEST(LoadConfig, BodyReadTimeoutDefaultsAndParses) {
  auto d = test::load_ok(std::string(kMinimal));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->listeners[0].body_read_timeout, std::chrono::milliseconds(30'000));
  std::string yaml(kMinimal);
  yaml.insert(yaml.find("    routes:"), "    body_read_timeout: 750ms\n");
  auto c = test::load_ok(yaml);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listeners[0].body_read_timeout, std::chrono::milliseconds(750));
  yaml.replace(yaml.find("750ms"), 5, "later");
  auto bad = load_config_string(yaml, "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.errors[0].format().find("listeners[0].body_read_timeout"), std::string::npos)
      << bad.errors[0].format();
}

}  // namespace
}  // namespace cw::config
