// Bad values in the keys carried into the model (fault, health_check, outlier_detection,
// circuit_breaker, retry_budget, registry, dns, tls) give exactly the errors they gave when
// the loader only validated them: each expected line below was printed by `causeway check`
// before the keys were carried (commit 5e273ed).
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using test::kListener;
using test::kWeb;

// Where the case's text goes: after the route (line 7), after the cluster (line 10), before
// everything (line 1), or in the listener before `routes` (line 4).
enum class Section { kRoute, kCluster, kTop, kTls };

struct Case {
  const char* name;
  Section section;
  const char* text;
  const char* error;  // the one error, formatted
};

std::string config(const Case& c) {
  switch (c.section) {
    case Section::kRoute:
      return kListener + c.text + kWeb;
    case Section::kCluster:
      return kListener + kWeb + c.text;
    case Section::kTop:
      return c.text + kListener + kWeb;
    case Section::kTls: {
      std::string l = kListener;
      l.insert(l.find("    routes:"), c.text);
      return l + kWeb;
    }
  }
  return "";
}

const Case kCases[] = {
    {"FaultDelayNeedsDuration", Section::kRoute, "        fault: { delay: { percent: 10 } }\n",
     "causeway.yaml:7:25: listeners[0].routes[0].fault.delay.duration: missing required key "
     "'duration'"},
    {"FaultDelayPercentRange", Section::kRoute,
     "        fault: { delay: { percent: 101, duration: 1s } }\n",
     "causeway.yaml:7:36: listeners[0].routes[0].fault.delay.percent: 101 is out of range "
     "(expected a percentage between 0 and 100)"},
    {"FaultDelayDurationUnit", Section::kRoute,
     "        fault: { delay: { percent: 1, duration: 200 } }\n",
     "causeway.yaml:7:49: listeners[0].routes[0].fault.delay.duration: duration '200' needs a unit "
     "(did you mean 200ms?)"},
    {"FaultAbortStatusRange", Section::kRoute,
     "        fault: { abort: { percent: 1, status: 600 } }\n",
     "causeway.yaml:7:47: listeners[0].routes[0].fault.abort.status: 600 is out of range (expected "
     "between 200 and 599)"},
    {"FaultAbortPercentGarbage", Section::kRoute,
     "        fault: { abort: { percent: x, status: 503 } }\n",
     "causeway.yaml:7:36: listeners[0].routes[0].fault.abort.percent: expected a percentage "
     "between 0 and 100, got 'x'"},
    {"FaultResetNeedsPercent", Section::kRoute, "        fault: { reset: {} }\n",
     "causeway.yaml:7:25: listeners[0].routes[0].fault.reset.percent: missing required key "
     "'percent'"},
    {"FaultUnknownPart", Section::kRoute, "        fault: { drop: { percent: 1 } }\n",
     "causeway.yaml:7:18: listeners[0].routes[0].fault: unknown key 'drop'"},
    {"FaultNotAMap", Section::kRoute, "        fault: 10\n",
     "causeway.yaml:7:16: listeners[0].routes[0].fault: expected a map, got '10'"},
    {"HealthCheckHttpPath", Section::kCluster, "    health_check: { http: healthz }\n",
     "causeway.yaml:10:27: clusters[0].health_check.http: http check path must start with '/', got "
     "'healthz'"},
    {"HealthCheckHttpAndTcp", Section::kCluster, "    health_check: { http: /h, tcp: true }\n",
     "causeway.yaml:10:31: clusters[0].health_check.tcp: 'tcp' conflicts with 'http': a check is "
     "one or the other"},
    {"HealthCheckTcpNotBool", Section::kCluster, "    health_check: { tcp: yes please }\n",
     "causeway.yaml:10:26: clusters[0].health_check.tcp: expected true or false, got 'yes please'"},
    {"HealthCheckIntervalZero", Section::kCluster, "    health_check: { interval: 0s }\n",
     "causeway.yaml:10:31: clusters[0].health_check.interval: duration must be at least 1ms, got "
     "'0s'"},
    {"HealthCheckTimeoutUnit", Section::kCluster, "    health_check: { timeout: 3 }\n",
     "causeway.yaml:10:30: clusters[0].health_check.timeout: duration '3' needs a unit (did you "
     "mean 3s?)"},
    {"HealthCheckUnhealthyThreshold", Section::kCluster,
     "    health_check: { unhealthy_threshold: 0 }\n",
     "causeway.yaml:10:42: clusters[0].health_check.unhealthy_threshold: 0 is out of range "
     "(expected between 1 and 1000)"},
    {"HealthCheckHealthyThreshold", Section::kCluster,
     "    health_check: { healthy_threshold: 1001 }\n",
     "causeway.yaml:10:40: clusters[0].health_check.healthy_threshold: 1001 is out of range "
     "(expected between 1 and 1000)"},
    {"OutlierConsecutive5xx", Section::kCluster, "    outlier_detection: { consecutive_5xx: -1 }\n",
     "causeway.yaml:10:43: clusters[0].outlier_detection.consecutive_5xx: -1 is out of range "
     "(expected between 0 and 1000000)"},
    {"OutlierConsecutiveGatewayFailure", Section::kCluster,
     "    outlier_detection: { consecutive_gateway_failure: 1000001 }\n",
     "causeway.yaml:10:55: clusters[0].outlier_detection.consecutive_gateway_failure: 1000001 is "
     "out of range (expected between 0 and 1000000)"},
    {"OutlierBaseEjectionTime", Section::kCluster,
     "    outlier_detection: { base_ejection_time: 30 }\n",
     "causeway.yaml:10:46: clusters[0].outlier_detection.base_ejection_time: duration '30' needs a "
     "unit (did you mean 30s?)"},
    {"OutlierMaxEjectionPercent", Section::kCluster,
     "    outlier_detection: { max_ejection_percent: 150 }\n",
     "causeway.yaml:10:48: clusters[0].outlier_detection.max_ejection_percent: 150 is out of range "
     "(expected a percentage between 0 and 100)"},
    {"OutlierStdevFactor", Section::kCluster,
     "    outlier_detection: { success_rate_stdev_factor: lots }\n",
     "causeway.yaml:10:53: clusters[0].outlier_detection.success_rate_stdev_factor: "
     "expected a factor between 0 and 100, e.g. 1.9 (0 = off), got 'lots'"},
    {"OutlierEnabled", Section::kCluster, "    outlier_detection: { enabled: maybe }\n",
     "causeway.yaml:10:35: clusters[0].outlier_detection.enabled: expected true or false, "
     "got 'maybe'"},
    {"HostBreakerProbes", Section::kCluster,
     "    circuit_breaker: { host: { half_open_requests: 0 } }\n",
     "causeway.yaml:10:52: clusters[0].circuit_breaker.host.half_open_requests: 0 is out "
     "of range (expected between 1 and 1000000)"},
    {"HostBreakerTypo", Section::kCluster, "    circuit_breaker: { host: { open_tme: 1s } }\n",
     "causeway.yaml:10:32: clusters[0].circuit_breaker.host: unknown key 'open_tme' (did "
     "you mean 'open_time'?)"},
    {"PanicThreshold", Section::kCluster, "    panic_threshold: 101\n",
     "causeway.yaml:10:22: clusters[0].panic_threshold: 101 is out of range (expected a "
     "percentage between 0 and 100)"},
    {"SlowStartWindow", Section::kCluster, "    slow_start: { window: 0s }\n",
     "causeway.yaml:10:27: clusters[0].slow_start.window: duration must be at least 1ms, "
     "got '0s'"},
    {"BreakerNegative", Section::kCluster, "    circuit_breaker: { max_connections: -1 }\n",
     "causeway.yaml:10:41: clusters[0].circuit_breaker.max_connections: -1 is out of range "
     "(expected between 0 and 1000000000)"},
    {"BreakerTooLarge", Section::kCluster, "    circuit_breaker: { max_pending: 1000000001 }\n",
     "causeway.yaml:10:37: clusters[0].circuit_breaker.max_pending: 1000000001 is out of range "
     "(expected between 0 and 1000000000)"},
    {"BreakerNotANumber", Section::kCluster, "    circuit_breaker: { max_retries: lots }\n",
     "causeway.yaml:10:37: clusters[0].circuit_breaker.max_retries: expected an integer between 0 "
     "and 1000000000, got 'lots'"},
    {"BreakerTypo", Section::kCluster, "    circuit_breaker: { max_request: 5 }\n",
     "causeway.yaml:10:24: clusters[0].circuit_breaker: unknown key 'max_request' (did you mean "
     "'max_requests'?)"},
    {"RetryBudgetPercentSign", Section::kCluster, "    retry_budget: { percent: 20% }\n",
     "causeway.yaml:10:30: clusters[0].retry_budget.percent: expected a percentage between 0 and "
     "100, got '20%'"},
    {"RetryBudgetMinPerSecond", Section::kCluster, "    retry_budget: { min_per_second: 1.5 }\n",
     "causeway.yaml:10:37: clusters[0].retry_budget.min_per_second: expected an integer between 0 "
     "and 1000000, got '1.5'"},
    {"RegistryBackendTypo", Section::kTop, "registry: { backend: etc }\n",
     "causeway.yaml:1:22: registry.backend: unknown backend 'etc' (did you mean 'etcd'?); expected "
     "one of: embedded, etcd"},
    {"RegistryEtcdEndpointHostname", Section::kTop,
     "registry: { etcd: { endpoints: [\"http://etcd-0:2379\"] } }\n",
     "causeway.yaml:1:33: registry.etcd.endpoints[0]: expected an etcd client URL http://IP:PORT "
     "(an IP literal, e.g. http://127.0.0.1:2379 or http://[::1]:2379), got 'http://etcd-0:2379'"},
    {"RegistryEtcdEndpointHttps", Section::kTop,
     "registry: { etcd: { endpoints: [\"https://10.0.0.1:2379\"] } }\n",
     "causeway.yaml:1:33: registry.etcd.endpoints[0]: TLS to etcd is not supported yet: use an "
     "http:// endpoint (etcd on a private network or loopback), got 'https://10.0.0.1:2379'"},
    {"RegistryEtcdEndpointsEmpty", Section::kTop, "registry: { etcd: { endpoints: [] } }\n",
     "causeway.yaml:1:32: registry.etcd.endpoints: expected at least one etcd endpoint, e.g. "
     "[http://127.0.0.1:2379]"},
    {"RegistryEtcdPrefixSlash", Section::kTop, "registry: { etcd: { prefix: causeway } }\n",
     "causeway.yaml:1:29: registry.etcd.prefix: expected a key prefix that starts and ends with "
     "'/', e.g. /causeway/ (causeways sharing a prefix share a registry), got 'causeway'"},
    {"RegistryDataDirEmpty", Section::kTop, "registry: { data_dir: \"\" }\n",
     "causeway.yaml:1:23: registry.data_dir: expected a non-empty string"},
    {"RegistryEtcdEndpointsNotAList", Section::kTop,
     "registry: { etcd: { endpoints: http://a:2379 } }\n",
     "causeway.yaml:1:32: registry.etcd.endpoints: expected a list of strings, got "
     "'http://a:2379'"},
    {"RegistryEtcdEndpointNotAString", Section::kTop, "registry: { etcd: { endpoints: [[a]] } }\n",
     "causeway.yaml:1:33: registry.etcd.endpoints[0]: expected a string, got a list"},
    {"DnsListenPort", Section::kTop, "dns: { listen: 127.0.0.1:99999 }\n",
     "causeway.yaml:1:16: dns.listen: port 99999 is out of range (expected 1-65535)"},
    {"DnsTtlUnit", Section::kTop, "dns: { ttl: 5 }\n",
     "causeway.yaml:1:13: dns.ttl: duration '5' needs a unit (did you mean 5s?)"},
    {"DnsRecursorsNotAList", Section::kTop, "dns: { recursors: 8.8.8.8 }\n",
     "causeway.yaml:1:19: dns.recursors: expected a list of addresses, got '8.8.8.8'"},
    {"DnsDomainUpperCase", Section::kTop, "dns: { domain: Internal }\n",
     "causeway.yaml:1:16: dns.domain: expected a domain name of lower-case labels ([a-z0-9-], "
     "1-63 each, dot-separated), got 'Internal'"},
    {"DnsDomainEmptyLabel", Section::kTop, "dns: { domain: a..b }\n",
     "causeway.yaml:1:16: dns.domain: expected a domain name of lower-case labels ([a-z0-9-], "
     "1-63 each, dot-separated), got 'a..b'"},
    {"DnsRecursorHostname", Section::kTop, "dns: { recursors: [dns.google] }\n",
     "causeway.yaml:1:20: dns.recursors[0]: 'dns.google' has no port (expected host:port, e.g. "
     "127.0.0.1:8080)"},
    {"DnsRecursorPortZero", Section::kTop, "dns: { recursors: [\"8.8.8.8:0\"] }\n",
     "causeway.yaml:1:20: dns.recursors[0]: port 0 is not a valid upstream port (expected "
     "1-65535)"},
    {"TlsCertificateNeedsKey", Section::kTls, "    tls: { certificates: [{ cert: a.pem }] }\n",
     "causeway.yaml:4:27: listeners[0].tls.certificates[0].key: missing required key 'key'"},
    {"TlsCertificatesNotAList", Section::kTls, "    tls: { certificates: a.pem }\n",
     "causeway.yaml:4:26: listeners[0].tls.certificates: expected a list of certificates, got "
     "'a.pem'"},
};

class CarriedErrors : public testing::TestWithParam<Case> {};

TEST_P(CarriedErrors, SameErrorAsBefore) {
  const Case& c = GetParam();
  const LoadResult r = load_config_string(config(c), "causeway.yaml");
  EXPECT_FALSE(r.ok());
  std::string all;
  for (const ConfigError& e : r.errors) all += e.format() + "\n";
  EXPECT_EQ(all, std::string(c.error) + "\n");
}

INSTANTIATE_TEST_SUITE_P(Config, CarriedErrors, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

// New with the model: `tcp: false` without `http` used to pass and asks for no check at all.
TEST(CarriedErrorsNew, TcpFalseWithoutHttpIsRefused) {
  const LoadResult r =
      load_config_string(kListener + kWeb + "    health_check: { tcp: false }\n", "causeway.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(),
            "causeway.yaml:10:26: clusters[0].health_check.tcp: a health check needs 'http: PATH' "
            "or 'tcp: true'");
}

}  // namespace
}  // namespace cw::config
