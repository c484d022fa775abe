// Every error the loader reports: position (1-based line:column), key path and message: syntax,
// unknown keys, scalars, durations and sizes, listeners (routes and clusters: load_errors_routes_test.cc).
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

}  // namespace
}  // namespace cw::config
