// Every error the loader reports for routes and clusters: position (1-based line:column), key
// path and message (the rest: load_errors_test.cc).
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "error_helpers.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using test::dump;
using test::kListener;
using test::kWeb;
using test::one_error;
using test::with_cluster;
using test::with_route;

// ---------------------------------------------------------------------------------------------
// Routes

TEST(LoadErrors, RouteToUnknownClusterSuggestsOne) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: wbe\n"),
                      6, 18, "listeners[0].routes[0].cluster",
                      "unknown cluster 'wbe' (did you mean 'web'?)");
}

TEST(LoadErrors, RouteNeedsAnAction) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        timeout: 1s\n"),
                      5, 9, "listeners[0].routes[0]",
                      "a route needs one of 'cluster', 'direct_response' or 'redirect'");
}

TEST(LoadErrors, RouteWithTwoActions) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: web\n"
                                 "        direct_response: { status: 404 }\n"),
                      7, 9, "listeners[0].routes[0].direct_response",
                      "'direct_response' conflicts with 'cluster': a route has exactly one of "
                      "'cluster', 'direct_response' or 'redirect'");
}

TEST(LoadErrors, RouteNeedsMatch) {
  EXPECT_CONFIG_ERROR(with_route("      - cluster: web\n"), 5, 9, "listeners[0].routes[0].match",
                      "missing required key 'match' (use match: { path_prefix: / } to match "
                      "every request)");
}

TEST(LoadErrors, PathMustStartWithSlash) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path_prefix: api/ }\n"
                                 "        cluster: web\n"),
                      5, 31, "listeners[0].routes[0].match.path_prefix",
                      "path_prefix must start with '/', got 'api/'");
}

TEST(LoadErrors, OnePathMatcherOnly) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: /a, path_prefix: /b }\n"
                                 "        cluster: web\n"),
                      5, 28, "listeners[0].routes[0].match.path_prefix",
                      "'path_prefix' conflicts with 'path': use one of 'path', 'path_prefix' or "
                      "'path_regex'");
}

TEST(LoadErrors, PathRegexMustCompile) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path_regex: \"^/(a\" }\n"
                                 "        cluster: web\n"),
                      5, 30, "listeners[0].routes[0].match.path_regex",
                      "invalid regular expression: missing ): ^/(a");
}

TEST(LoadErrors, HeaderRegexMustCompile) {
  EXPECT_CONFIG_ERROR(with_route("      - match:\n"
                                 "          headers: [{ name: x-v, regex: \"[z-a]\" }]\n"
                                 "        cluster: web\n"),
                      6, 41, "listeners[0].routes[0].match.headers[0].regex",
                      "invalid regular expression: invalid character class range: z-a");
}

TEST(LoadErrors, HeaderMatchNeedsAKind) {
  EXPECT_CONFIG_ERROR(with_route("      - match:\n"
                                 "          headers: [{ name: x-v }]\n"
                                 "        cluster: web\n"),
                      6, 21, "listeners[0].routes[0].match.headers[0]",
                      "a header match needs one of 'exact', 'regex' or 'present'");
}

TEST(LoadErrors, HeaderMatchPresentFalse) {
  EXPECT_CONFIG_ERROR(with_route("      - match:\n"
                                 "          headers: [{ name: x-v, present: false }]\n"
                                 "        cluster: web\n"),
                      6, 43, "listeners[0].routes[0].match.headers[0].present",
                      "present: false is not supported; omit the header match instead");
}

TEST(LoadErrors, HostWithPort) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { host: \"example.com:80\" }\n"
                                 "        cluster: web\n"),
                      5, 24, "listeners[0].routes[0].match.host",
                      "expected a host name such as api.example.com or *.example.com (no port), "
                      "got 'example.com:80'");
}

TEST(LoadErrors, MethodIsCaseSensitive) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: /, method: [GET, post] }\n"
                                 "        cluster: web\n"),
                      5, 41, "listeners[0].routes[0].match.method[1]",
                      "HTTP methods are case-sensitive: 'post' (did you mean 'POST'?)");
}

TEST(LoadErrors, RedirectStatus) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        redirect: { location: /x, status: 304 }\n"),
                      6, 43, "listeners[0].routes[0].redirect.status",
                      "redirect status 304 is not one of 301, 302, 303, 307, 308");
}

TEST(LoadErrors, RedirectNeedsLocation) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        redirect: { status: 301 }\n"),
                      6, 19, "listeners[0].routes[0].redirect.location",
                      "missing required key 'location'");
}

TEST(LoadErrors, DirectResponseStatusRange) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        direct_response: { status: 99 }\n"),
                      6, 36, "listeners[0].routes[0].direct_response.status",
                      "99 is out of range (expected between 200 and 599)");
}

TEST(LoadErrors, DuplicateRouteName) {
  EXPECT_CONFIG_ERROR(with_route("      - { name: r, match: { path: /a }, cluster: web }\n"
                                 "      - { name: r, match: { path: /b }, cluster: web }\n"),
                      6, 9, "listeners[0].routes[1]",
                      "duplicate route name 'r' (also listeners[0].routes[0])");
}

TEST(LoadErrors, RetryOnTypo) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: web\n"
                                 "        retry: { attempts: 2, retry_on: [conect-failure] }\n"),
                      7, 42, "listeners[0].routes[0].retry.retry_on[0]",
                      "unknown retry condition 'conect-failure' (did you mean "
                      "'connect-failure'?); expected one of: connect-failure, refused, reset, timeout, "
                      "5xx, gateway-error, retriable-4xx or a status code 400-599");
}

TEST(LoadErrors, RetryAttempts) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: web\n"
                                 "        retry: { attempts: 0 }\n"),
                      7, 28, "listeners[0].routes[0].retry.attempts",
                      "0 is out of range (expected between 1 and 10)");
}

TEST(LoadErrors, RetryBackoffMaxBelowBase) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: web\n"
                                 "        retry: { backoff: { base: 1s, max: 100ms } }\n"),
                      7, 44, "listeners[0].routes[0].retry.backoff.max",
                      "backoff max (100ms) is below base (1000ms)");
}

TEST(LoadErrors, FaultPercent) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: web\n"
                                 "        fault: { abort: { percent: 150, status: 503 } }\n"),
                      7, 36, "listeners[0].routes[0].fault.abort.percent",
                      "150 is out of range (expected a percentage between 0 and 100)");
}

// ---------------------------------------------------------------------------------------------
// Clusters

TEST(LoadErrors, ClusterNeedsName) {
  EXPECT_CONFIG_ERROR(kListener + kWeb + "  - endpoints: [127.0.0.1:1]\n", 10, 5,
                      "clusters[1].name", "missing required key 'name'");
}

TEST(LoadErrors, DuplicateClusterName) {
  EXPECT_CONFIG_ERROR(kListener + kWeb + "  - name: web\n    endpoints: [127.0.0.1:1]\n", 10, 11,
                      "clusters[1].name", "duplicate cluster name 'web' (first defined at line 8)");
}

TEST(LoadErrors, StaticClusterNeedsEndpoints) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"), 8, 5, "clusters[0].endpoints",
                      "missing required key 'endpoints' (a static cluster needs at least one "
                      "endpoint)");
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n    endpoints: []\n"), 9, 16,
                      "clusters[0].endpoints", "a static cluster needs at least one endpoint");
}

TEST(LoadErrors, EndpointWeightMustBePositive) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints:\n"
                                   "      - { address: 127.0.0.1:9001, weight: 0 }\n"),
                      10, 44, "clusters[0].endpoints[0].weight",
                      "0 is out of range (expected between 1 and 1000000)");
}

TEST(LoadErrors, EndpointPortZero) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:0]\n"),
                      9, 17, "clusters[0].endpoints[0]",
                      "port 0 is not a valid upstream port (expected 1-65535)");
}

TEST(LoadErrors, DuplicateEndpoint) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001, localhost:9001]\n"),
                      9, 33, "clusters[0].endpoints[1]", "duplicate endpoint 127.0.0.1:9001");
}

TEST(LoadErrors, EndpointOfTheWrongShape) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [[127.0.0.1, 9001]]\n"),
                      9, 17, "clusters[0].endpoints[0]",
                      "expected an endpoint: \"ip:port\" or { address: \"ip:port\", weight: N }, "
                      "got a list");
}

TEST(LoadErrors, LoadBalancerTypo) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    lb: least_requests\n"),
                      10, 9, "clusters[0].lb",
                      "unknown load balancer 'least_requests' (did you mean 'least_request'?); "
                      "expected one of: round_robin, weighted_round_robin, least_request, "
                      "peak_ewma, random, ring_hash, maglev");
}

TEST(LoadErrors, HashOnShape) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    lb: maglev\n"
                                   "    hash_on: \"header:\"\n"),
                      11, 14, "clusters[0].hash_on",
                      "expected source_ip, header:NAME or cookie:NAME, got 'header:'");
}

// The same listener and one registry cluster; `top` goes first (line 1).
std::string registry_cluster(const std::string& top, const std::string& cluster) {
  return top + with_cluster("  - name: web\n    discovery: registry\n" + cluster);
}

TEST(LoadErrors, RegistryClusterLoads) {
  LoadResult r = load_config_string(registry_cluster("registry: {}\n", "    service: api\n"),
                                    "causeway.yaml");
  ASSERT_TRUE(r.ok()) << test::dump(r);
  EXPECT_EQ(r.config->clusters[0].discovery, "registry");
  EXPECT_EQ(r.config->clusters[0].service, "api");
  EXPECT_TRUE(r.config->clusters[0].endpoints.empty());
}

TEST(LoadErrors, RegistryClusterNeedsARegistry) {
  EXPECT_CONFIG_ERROR(registry_cluster("", "    service: api\n"), 8, 11, "clusters[0].name",
                      "cluster 'web' uses discovery: registry, but there is no registry: section "
                      "(add `registry: { data_dir: ./causeway-data }`)");
}

TEST(LoadErrors, RegistryClusterNeedsAService) {
  EXPECT_CONFIG_ERROR(registry_cluster("registry: {}\n", ""), 9, 5, "clusters[0].service",
                      "missing required key 'service' (the registry service this cluster follows)");
}

TEST(LoadErrors, RegistryClusterServiceIsALabel) {
  EXPECT_CONFIG_ERROR(registry_cluster("registry: {}\n", "    service: Api_1\n"), 11, 14,
                      "clusters[0].service",
                      "expected a registry service name ([a-z0-9-], 1-63, not starting or ending "
                      "with '-'), got 'Api_1'");
}

TEST(LoadErrors, RegistryClusterHasNoEndpoints) {
  EXPECT_CONFIG_ERROR(
      registry_cluster("registry: {}\n", "    service: api\n    endpoints: [127.0.0.1:1]\n"), 12,
      5, "clusters[0].endpoints",
      "'endpoints' is only used with discovery: static (a registry cluster's hosts are the "
      "service's instances)");
}

TEST(LoadErrors, ServiceNeedsRegistryDiscovery) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    service: web\n"),
                      10, 5, "clusters[0].service",
                      "'service' is only used with discovery: registry");
}

TEST(LoadErrors, UpstreamProtocolNotSupportedYet) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    protocol: http2\n"),
                      10, 15, "clusters[0].protocol",
                      "protocol 'http2' is not supported yet (this version speaks 'http1' "
                      "upstream)");
}

TEST(LoadErrors, HealthCheckPath) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    health_check: { http: healthz }\n"),
                      10, 27, "clusters[0].health_check.http",
                      "http check path must start with '/', got 'healthz'");
}

// ---------------------------------------------------------------------------------------------
// All errors at once, in file order

TEST(LoadErrors, CollectsEveryErrorInFileOrder) {
  const std::string yaml =
      "workers: lots\n"                         // 1
      "drain_timeout: 3\n"                      // 2
      "listeners:\n"                            // 3
      "  - name: edge\n"                        // 4
      "    listen: 127.0.0.1:0\n"               // 5
      "    routes:\n"                           // 6
      "      - match: { path_prefx: /api/ }\n"  // 7
      "        cluster: apii\n"                 // 8
      "clusters:\n"                             // 9
      "  - name: api\n"                         // 10
      "    lb: least_requests\n"                // 11
      "    endpoints: [127.0.0.1:9101]\n";      // 12
  LoadResult r = load_config_string(yaml, "causeway.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 5u) << dump(r);
  EXPECT_EQ(r.errors[0].format(),
            "causeway.yaml:1:10: workers: expected an integer between 1 and 1024 or 'auto', got "
            "'lots'");
  EXPECT_EQ(r.errors[1].format(),
            "causeway.yaml:2:16: drain_timeout: duration '3' needs a unit (did you mean 3s?)");
  EXPECT_EQ(r.errors[2].format(),
            "causeway.yaml:7:18: listeners[0].routes[0].match: unknown key 'path_prefx' (did you "
            "mean 'path_prefix'?)");
  EXPECT_EQ(r.errors[3].format(),
            "causeway.yaml:8:18: listeners[0].routes[0].cluster: unknown cluster 'apii' (did you "
            "mean 'api'?)");
  EXPECT_EQ(r.errors[4].format(),
            "causeway.yaml:11:9: clusters[0].lb: unknown load balancer 'least_requests' (did you "
            "mean 'least_request'?); expected one of: round_robin, weighted_round_robin, "
            "least_request, peak_ewma, random, ring_hash, maglev");
}

TEST(LoadErrors, StopsCollectingAfterAHundred) {
  std::string yaml = kListener + kWeb;
  for (int i = 0; i < 150; ++i) yaml += "unknown_" + std::to_string(i) + ": 1\n";
  LoadResult r = load_config_string(yaml, "causeway.yaml");
  ASSERT_EQ(r.errors.size(), 101u);
  EXPECT_EQ(r.errors.back().message, "too many errors; stopped after 100");
}

TEST(LoadErrors, MissingFile) {
  LoadResult r = load_config_file("/nonexistent/causeway.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, ErrorKind::kIo);
  EXPECT_EQ(r.errors[0].format(),
            "/nonexistent/causeway.yaml: cannot read the config: No such file or directory");
}

TEST(LoadErrors, AliasCyclesDoNotHang) {
  LoadResult r = load_config_string("listeners: &a [*a]\n", "causeway.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.errors.empty());
}

}  // namespace
}  // namespace cw::config
