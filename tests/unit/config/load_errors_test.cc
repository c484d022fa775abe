// Every error the loader reports: position (1-based line:column), key path and message.
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using test::dump;
using test::kListener;
using test::kWeb;

// Loads `yaml` and expects exactly one error.
ConfigError one_error(const std::string& yaml) {
  LoadResult r = load_config_string(yaml, "causeway.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.errors.size(), 1u) << dump(r);
  if (r.errors.empty()) return {};
  return r.errors[0];
}

#define EXPECT_CONFIG_ERROR(yaml, line_, column_, path_, message_) \
  do {                                                             \
    const ConfigError e_ = one_error(yaml);                        \
    EXPECT_EQ(e_.line, line_) << e_.format();                      \
    EXPECT_EQ(e_.column, column_) << e_.format();                  \
    EXPECT_EQ(e_.key_path, path_) << e_.format();                  \
    EXPECT_EQ(e_.message, message_) << e_.format();                \
  } while (0)

// A config whose first route (line 5 on) is `route`, indented by 6 spaces.
std::string with_route(const std::string& route) {
  return "listeners:\n"
         "  - name: edge\n"
         "    listen: 127.0.0.1:0\n"
         "    routes:\n" +
         route + kWeb;
}

// A config whose only cluster (line 7 on) is `cluster`; the route goes to `web`.
std::string with_cluster(const std::string& cluster) { return kListener + "clusters:\n" + cluster; }

// ---------------------------------------------------------------------------------------------
// Format

TEST(ConfigErrorFormat, NamesFileLineColumnPathAndHint) {
  const std::string yaml =
      "# Causeway\n"
      "workers: 2\n"
      "listeners:\n"
      "- name: edge\n"
      "  listen: 127.0.0.1:0\n"
      "  routes:\n"
      "  - match: { path: /a }\n"
      "    cluster: web\n"
      "  - cluster: web\n"
      "    match:\n"
      "      method: GET\n"
      "      path_prefx: /b\n"
      "clusters:\n"
      "- name: web\n"
      "  endpoints: [127.0.0.1:9001]\n";
  const ConfigError e = one_error(yaml);
  EXPECT_EQ(e.kind, ErrorKind::kUnknownKey);
  EXPECT_EQ(e.key_path, "listeners[0].routes[1].match.path_prefx");
  EXPECT_EQ(e.format(),
            "causeway.yaml:12:7: listeners[0].routes[1].match: unknown key 'path_prefx' (did you "
            "mean 'path_prefix'?)");
}

TEST(ConfigErrorFormat, LeavesOutWhatIsAbsent) {
  ConfigError e{"c.yaml",      0, 0, "", "cannot read the config: No such file or directory",
                ErrorKind::kIo};
  EXPECT_EQ(e.format(), "c.yaml: cannot read the config: No such file or directory");
  e = ConfigError{"c.yaml", 3, 1, "", "unknown key 'x'", ErrorKind::kUnknownKey};
  EXPECT_EQ(e.format(), "c.yaml:3:1: unknown key 'x'");
  e = ConfigError{"c.yaml", 3, 1, "x", "unknown key 'x'", ErrorKind::kUnknownKey};
  EXPECT_EQ(e.format(), "c.yaml:3:1: unknown key 'x'");  // top level: no parent path
  e = ConfigError{
      "c.yaml", 2, 5, "a[0][\"we.ird\"]", "unknown key 'we.ird'", ErrorKind::kUnknownKey};
  EXPECT_EQ(e.format(), "c.yaml:2:5: a[0]: unknown key 'we.ird'");
  e = ConfigError{"c.yaml", 2, 5, "workers", "expected x", ErrorKind::kInvalid};
  EXPECT_EQ(e.format(), "c.yaml:2:5: workers: expected x");
}

// ---------------------------------------------------------------------------------------------
// YAML itself

TEST(LoadErrors, SyntaxErrorHasAPosition) {
  const ConfigError e = one_error("workers: 2\nlisteners: [1, 2\nclusters: []\n");
  EXPECT_EQ(e.kind, ErrorKind::kSyntax);
  EXPECT_EQ(e.line, 3);
  EXPECT_GT(e.column, 0);
  EXPECT_EQ(e.key_path, "");
  EXPECT_EQ(e.message, "YAML syntax error: end of sequence flow not found");
}

TEST(LoadErrors, TabIndentationIsASyntaxError) {
  const ConfigError e = one_error("admin:\n\tlisten: 127.0.0.1:1\n");
  EXPECT_EQ(e.kind, ErrorKind::kSyntax);
  EXPECT_EQ(e.line, 2);
}

TEST(LoadErrors, DeepNestingIsRefused) {
  const ConfigError e = one_error(std::string(5000, '[') + std::string(5000, ']'));
  EXPECT_EQ(e.kind, ErrorKind::kSyntax);
  EXPECT_EQ(e.message, "the YAML nests too deeply");
  EXPECT_EQ(e.line, 1);
}

TEST(LoadErrors, EmptyConfig) {
  EXPECT_CONFIG_ERROR("", 0, 0, "", "the config is empty");
  EXPECT_CONFIG_ERROR("# only a comment\n", 0, 0, "", "the config is empty");
}

TEST(LoadErrors, StrayCommaIsASyntaxError) {
  // yaml-cpp parses this as an empty document; the loader still points at the text.
  const ConfigError e = one_error("# hello\n  , x\n");
  EXPECT_EQ(e.kind, ErrorKind::kSyntax);
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 3);
  EXPECT_EQ(e.message, "YAML syntax error: unexpected text");
}

TEST(LoadErrors, LeadingDocumentMarkerIsFine) {
  LoadResult r = load_config_string("%YAML 1.2\n---\n" + kListener + kWeb + "...\n", "c.yaml");
  EXPECT_TRUE(r.ok()) << dump(r);
}

TEST(LoadErrors, TopLevelMustBeAMap) {
  EXPECT_CONFIG_ERROR("- a\n- b\n", 1, 1, "", "expected a map, got a list");
}

TEST(LoadErrors, OneDocumentOnly) {
  EXPECT_CONFIG_ERROR(
      kListener + kWeb + "---\nworkers: 2\n", 10, 1, "",
      "the file holds more than one YAML document ('---'); a config is one document");
}

TEST(LoadErrors, DuplicateKey) {
  EXPECT_CONFIG_ERROR("workers: 2\n" + kListener + kWeb + "workers: 3\n", 11, 1, "workers",
                      "duplicate key 'workers' (first at line 1)");
}

TEST(LoadErrors, NonScalarKey) {
  EXPECT_CONFIG_ERROR("? [a, b]\n: 1\n" + kListener + kWeb, 1, 3, "",
                      "keys must be plain strings, got a list");
}

// ---------------------------------------------------------------------------------------------
// Unknown keys at every level

TEST(LoadErrors, UnknownTopLevelKey) {
  const ConfigError e = one_error("listner: []\n" + kListener + kWeb);
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 1);
  EXPECT_EQ(e.key_path, "listner");
  EXPECT_EQ(e.message, "unknown key 'listner' (did you mean 'listeners'?)");
  EXPECT_EQ(e.format(), "causeway.yaml:1:1: unknown key 'listner' (did you mean 'listeners'?)");
}

TEST(LoadErrors, UnknownKeyWithoutACloseMatchHasNoHint) {
  EXPECT_CONFIG_ERROR("banana: 1\n" + kListener + kWeb, 1, 1, "banana", "unknown key 'banana'");
}

TEST(LoadErrors, UnknownKeyInListener) {
  EXPECT_CONFIG_ERROR(kListener + "    idle_timout: 5s\n" + kWeb, 7, 5, "listeners[0].idle_timout",
                      "unknown key 'idle_timout' (did you mean 'idle_timeout'?)");
}

TEST(LoadErrors, UnknownKeyInRoute) {
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        clsuter: web\n"),
                      6, 9, "listeners[0].routes[0].clsuter",
                      "unknown key 'clsuter' (did you mean 'cluster'?)");
}

TEST(LoadErrors, UnknownKeyInCluster) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    connect_timout: 1s\n"),
                      10, 5, "clusters[0].connect_timout",
                      "unknown key 'connect_timout' (did you mean 'connect_timeout'?)");
}

TEST(LoadErrors, UnknownKeyInPool) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    pool: { max_connection: 5 }\n"),
                      10, 13, "clusters[0].pool.max_connection",
                      "unknown key 'max_connection' (did you mean 'max_connections'?)");
}

TEST(LoadErrors, PoolQueueTimeoutNeedsAUnit) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    pool: { queue_timeout: 500 }\n"),
                      10, 28, "clusters[0].pool.queue_timeout",
                      "duration '500' needs a unit (did you mean 500ms?)");
}

TEST(LoadErrors, UnknownKeyInAcceptedButUnappliedMaps) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    health_check: { http: /healthz, intervl: 2s }\n"),
                      10, 37, "clusters[0].health_check.intervl",
                      "unknown key 'intervl' (did you mean 'interval'?)");
  EXPECT_CONFIG_ERROR("registry: { backend: embedded, datadir: ./d }\n" + kListener + kWeb, 1, 32,
                      "registry.datadir", "unknown key 'datadir' (did you mean 'data_dir'?)");
  EXPECT_CONFIG_ERROR(with_route("      - match: { path: / }\n"
                                 "        cluster: web\n"
                                 "        fault: { delay: { percent: 10, duraton: 1s } }\n"),
                      7, 40, "listeners[0].routes[0].fault.delay.duraton",
                      "unknown key 'duraton' (did you mean 'duration'?)");
}

// ---------------------------------------------------------------------------------------------
// Wrong types and values at the top level

TEST(LoadErrors, WorkersNotANumber) {
  EXPECT_CONFIG_ERROR("workers: lots\n" + kListener + kWeb, 1, 10, "workers",
                      "expected an integer between 1 and 1024 or 'auto', got 'lots'");
}

TEST(LoadErrors, WorkersOutOfRange) {
  EXPECT_CONFIG_ERROR("workers: 0\n" + kListener + kWeb, 1, 10, "workers",
                      "0 is out of range (expected between 1 and 1024)");
  EXPECT_CONFIG_ERROR("workers: -3\n" + kListener + kWeb, 1, 10, "workers",
                      "expected an integer between 1 and 1024 or 'auto', got '-3'");
}

TEST(LoadErrors, WorkersEmpty) {
  EXPECT_CONFIG_ERROR("workers:\n" + kListener + kWeb, 1, 1, "workers",
                      "expected an integer between 1 and 1024 or 'auto', got an empty value");
}

TEST(LoadErrors, AdminPortNotANumber) {
  EXPECT_CONFIG_ERROR("admin: { listen: 127.0.0.1:abc }\n" + kListener + kWeb, 1, 18,
                      "admin.listen", "port 'abc' is not a number (expected 1-65535)");
}

TEST(LoadErrors, AdminPortOutOfRange) {
  EXPECT_CONFIG_ERROR("admin: { listen: 127.0.0.1:70000 }\n" + kListener + kWeb, 1, 18,
                      "admin.listen", "port 70000 is out of range (expected 1-65535)");
}

TEST(LoadErrors, AdminNeedsListen) {
  EXPECT_CONFIG_ERROR("admin: {}\n" + kListener + kWeb, 1, 8, "admin.listen",
                      "missing required key 'listen'");
}

TEST(LoadErrors, AdminAsScalar) {
  EXPECT_CONFIG_ERROR("admin: 127.0.0.1:9901\n" + kListener + kWeb, 1, 8, "admin",
                      "expected a map, got '127.0.0.1:9901'");
}

TEST(LoadErrors, AccessLogFormatTypo) {
  EXPECT_CONFIG_ERROR("access_log: { path: stderr, format: jsno }\n" + kListener + kWeb, 1, 37,
                      "access_log.format",
                      "unknown format 'jsno' (did you mean 'json'?); expected one of: json, text");
}

TEST(LoadErrors, AccessLogNeedsPath) {
  EXPECT_CONFIG_ERROR("access_log: { format: json }\n" + kListener + kWeb, 1, 13, "access_log.path",
                      "missing required key 'path' (stderr, stdout or a file path)");
}

TEST(LoadErrors, ListenersMustBeAList) {
  EXPECT_CONFIG_ERROR("listeners: { name: edge }\n", 1, 12, "listeners",
                      "expected a list of listeners, got a map");
}

// ---------------------------------------------------------------------------------------------
// Durations and sizes

TEST(LoadErrors, DurationWithoutUnitSuggestsOne) {
  EXPECT_CONFIG_ERROR("drain_timeout: 3\n" + kListener + kWeb, 1, 16, "drain_timeout",
                      "duration '3' needs a unit (did you mean 3s?)");
  EXPECT_CONFIG_ERROR("drain_timeout: 250\n" + kListener + kWeb, 1, 16, "drain_timeout",
                      "duration '250' needs a unit (did you mean 250ms?)");
}

TEST(LoadErrors, DurationBelowResolution) {
  EXPECT_CONFIG_ERROR(kListener + "    idle_timeout: 1500us\n" + kWeb, 7, 19,
                      "listeners[0].idle_timeout",
                      "duration '1500us' is not a whole number of milliseconds (the resolution "
                      "is 1ms)");
}

TEST(LoadErrors, DurationZeroWhereNotAllowed) {
  EXPECT_CONFIG_ERROR(kListener + "    idle_timeout: 0s\n" + kWeb, 7, 19,
                      "listeners[0].idle_timeout", "duration must be at least 1ms, got '0s'");
}

TEST(LoadErrors, DurationGarbage) {
  EXPECT_CONFIG_ERROR(kListener + "    header_read_timeout: soon\n" + kWeb, 7, 26,
                      "listeners[0].header_read_timeout",
                      "expected a duration such as 250ms, 3s or 1m (units: us, ms, s, m, h), got "
                      "'soon'");
}

TEST(LoadErrors, SizeWithAmbiguousUnit) {
  EXPECT_CONFIG_ERROR(
      kListener + "    max_header_bytes: 64k\n" + kWeb, 7, 23, "listeners[0].max_header_bytes",
      "expected a size such as 64KiB, 1MiB or 512 (bytes) (units: B, KiB, MiB, GiB, "
      "KB, MB, GB), got '64k'");
}

TEST(LoadErrors, SizeOutOfRange) {
  EXPECT_CONFIG_ERROR(kListener + "    max_header_bytes: 2MiB\n" + kWeb, 7, 23,
                      "listeners[0].max_header_bytes",
                      "size 2MiB is out of range (expected 1024 to 1048576 bytes)");
}

// ---------------------------------------------------------------------------------------------
// Listeners

TEST(LoadErrors, ListenerNeedsNameListenRoutes) {
  LoadResult r = load_config_string("listeners:\n  - protocol: http\n" + kWeb, "causeway.yaml");
  ASSERT_EQ(r.errors.size(), 3u) << dump(r);
  for (const ConfigError& e : r.errors) {
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 5);
  }
  EXPECT_EQ(r.errors[0].key_path, "listeners[0].name");
  EXPECT_EQ(r.errors[0].message, "missing required key 'name'");
  EXPECT_EQ(r.errors[1].key_path, "listeners[0].listen");
  EXPECT_EQ(r.errors[2].key_path, "listeners[0].routes");
}

TEST(LoadErrors, ListenerNameCharacters) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n  - name: my edge\n    listen: 127.0.0.1:0\n    routes:\n"
      "      - match: { path_prefix: / }\n        cluster: web\n" +
          kWeb,
      2, 11, "listeners[0].name",
      "invalid name 'my edge': use letters, digits, '.', '_' and '-' (at most 64 "
      "characters)");
}

TEST(LoadErrors, ListenerProtocolNotSupportedYet) {
  EXPECT_CONFIG_ERROR(kListener + "    protocol: https\n" + kWeb, 7, 15, "listeners[0].protocol",
                      "protocol 'https' is not supported yet (this version serves 'http')");
  EXPECT_CONFIG_ERROR(kListener + "    protocol: tcp\n" + kWeb, 7, 15, "listeners[0].protocol",
                      "protocol 'tcp' is not supported yet (this version serves 'http')");
}

TEST(LoadErrors, ListenerProtocolTypo) {
  EXPECT_CONFIG_ERROR(kListener + "    protocol: htp\n" + kWeb, 7, 15, "listeners[0].protocol",
                      "unknown protocol 'htp' (did you mean 'http'?); expected one of: http, "
                      "https, tcp");
}

TEST(LoadErrors, ListenerAddressIsAHostname) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n  - name: edge\n    listen: example.com:80\n    routes:\n"
      "      - match: { path_prefix: / }\n        cluster: web\n" +
          kWeb,
      3, 13, "listeners[0].listen",
      "'example.com' is not an IP address (hostnames are not resolved here; use "
      "an IP literal or localhost)");
}

TEST(LoadErrors, ListenerAddressWithoutPort) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n  - name: edge\n    listen: 127.0.0.1\n    routes:\n"
      "      - match: { path_prefix: / }\n        cluster: web\n" +
          kWeb,
      3, 13, "listeners[0].listen",
      "'127.0.0.1' has no port (expected host:port, e.g. 127.0.0.1:8080)");
}

TEST(LoadErrors, Ipv6AddressWithoutBrackets) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n  - name: edge\n    listen: \"::1:80\"\n    routes:\n"
      "      - match: { path_prefix: / }\n        cluster: web\n" +
          kWeb,
      3, 13, "listeners[0].listen", "IPv6 addresses need brackets, e.g. [::1]:8080");
}

TEST(LoadErrors, AccessListBadCidr) {
  EXPECT_CONFIG_ERROR(kListener + "    access: { allow: [10.0.0.0/8, 10.0.0.0/33] }\n" + kWeb, 7,
                      35, "listeners[0].access.allow[1]",
                      "expected a CIDR block such as 10.0.0.0/8 or ::1/128, got '10.0.0.0/33'");
}

TEST(LoadErrors, TrustedProxiesMustBeAList) {
  EXPECT_CONFIG_ERROR(kListener + "    trusted_proxies: 127.0.0.0/8\n" + kWeb, 7, 22,
                      "listeners[0].trusted_proxies",
                      "expected a list of CIDR blocks, got '127.0.0.0/8'");
}

TEST(LoadErrors, MaxHeadersNotANumber) {
  EXPECT_CONFIG_ERROR(kListener + "    max_headers: many\n" + kWeb, 7, 18,
                      "listeners[0].max_headers",
                      "expected an integer between 1 and 10000, got 'many'");
}

TEST(LoadErrors, RoutesMustNotBeEmpty) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes: []\n" + kWeb, 4, 13,
      "listeners[0].routes", "a listener needs at least one route");
}

TEST(LoadErrors, DuplicateListenerName) {
  EXPECT_CONFIG_ERROR(kListener +
                          "  - name: edge\n"
                          "    listen: 127.0.0.1:0\n"
                          "    routes: [{ match: { path: / }, cluster: web }]\n" +
                          kWeb,
                      7, 11, "listeners[1].name",
                      "duplicate listener name 'edge' (first defined at line 2)");
}

TEST(LoadErrors, TwoListenersOnOneAddress) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n"
      "  - { name: a, listen: 127.0.0.1:8080, routes: [{ match: { path: / }, cluster: web }] }\n"
      "  - { name: b, listen: 127.0.0.1:8080, routes: [{ match: { path: / }, cluster: web }] }\n" +
          kWeb,
      3, 24, "listeners[1].listen",
      "listener 'b' listens on 127.0.0.1:8080, which clashes with listener 'a' on "
      "127.0.0.1:8080");
}

TEST(LoadErrors, WildcardListenerClashesWithSpecificAddress) {
  EXPECT_CONFIG_ERROR(
      "listeners:\n"
      "  - { name: a, listen: 127.0.0.1:8080, routes: [{ match: { path: / }, cluster: web }] }\n"
      "  - { name: b, listen: \"[::]:8080\", routes: [{ match: { path: / }, cluster: web }] }\n" +
          kWeb,
      3, 24, "listeners[1].listen",
      "listener 'b' listens on [::]:8080, which clashes with listener 'a' on "
      "127.0.0.1:8080");
}

TEST(LoadErrors, ListenerClashesWithAdmin) {
  EXPECT_CONFIG_ERROR(
      "admin: { listen: 127.0.0.1:9901 }\n"
      "listeners:\n"
      "  - { name: a, listen: 0.0.0.0:9901, routes: [{ match: { path: / }, cluster: web }] }\n" +
          kWeb,
      3, 24, "listeners[0].listen",
      "listener 'a' listens on 0.0.0.0:9901, which clashes with the admin listener "
      "on 127.0.0.1:9901");
}

TEST(LoadErrors, TlsNeedsCertificates) {
  EXPECT_CONFIG_ERROR(kListener + "    tls: { certificates: [{ cert: a.pem }] }\n" + kWeb, 7, 27,
                      "listeners[0].tls.certificates[0].key", "missing required key 'key'");
}

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

TEST(LoadErrors, DiscoveryNotSupportedYet) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    discovery: dns\n"
                                   "    hostname: web.internal:80\n"),
                      9, 16, "clusters[0].discovery",
                      "discovery 'dns' is not supported yet (this version supports 'static' with "
                      "endpoints)");
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
