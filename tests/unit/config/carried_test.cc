// Keys that are validated but not acted on yet (resilience, registry, dns, tls; and fault, now
// injected, for its model) reach the model with their defaults and explicit values.
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using std::chrono::milliseconds;

using test::load_ok;

// A listener routing to `web` (lines 1-6, the route's extra keys at `route`), then clusters.
std::string config(const std::string& route, const std::string& web, const std::string& top = "") {
  return top + test::kListener + route + test::kWeb + web;
}

TEST(Carried, AbsentSectionsAreAbsent) {
  auto c = load_ok(config("", ""));
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->registry);
  EXPECT_FALSE(c->dns);
  EXPECT_FALSE(c->listeners[0].tls);
  EXPECT_FALSE(c->listeners[0].routes[0].fault);
  const Cluster& web = c->clusters[0];
  EXPECT_FALSE(web.health_check);
  EXPECT_FALSE(web.outlier_detection);
  EXPECT_FALSE(web.circuit_breaker);
  EXPECT_FALSE(web.retry_budget);
  EXPECT_TRUE(c->unapplied_keys.empty());
}

TEST(Carried, ResilienceDefaults) {
  auto c = load_ok(config("",
                          "    health_check: {}\n"
                          "    outlier_detection: {}\n"
                          "    circuit_breaker: {}\n"
                          "    retry_budget: {}\n"));
  ASSERT_TRUE(c);
  const Cluster& web = c->clusters[0];
  ASSERT_TRUE(web.health_check);
  EXPECT_EQ(web.health_check->kind, HealthCheck::Kind::kTcp);
  EXPECT_EQ(web.health_check->http_path, "");
  EXPECT_EQ(web.health_check->interval, milliseconds(2000));
  EXPECT_EQ(web.health_check->timeout, milliseconds(1000));
  EXPECT_EQ(web.health_check->unhealthy_threshold, 3u);
  EXPECT_EQ(web.health_check->healthy_threshold, 2u);
  ASSERT_TRUE(web.outlier_detection);
  EXPECT_EQ(web.outlier_detection->consecutive_5xx, 5u);
  EXPECT_EQ(web.outlier_detection->consecutive_gateway_failure, 5u);
  EXPECT_EQ(web.outlier_detection->base_ejection_time, milliseconds(30'000));
  EXPECT_EQ(web.outlier_detection->max_ejection_percent, 10.0);
  EXPECT_TRUE(web.outlier_detection->enabled);
  EXPECT_EQ(web.outlier_detection->max_ejection_time, milliseconds(300'000));
  EXPECT_EQ(web.outlier_detection->interval, milliseconds(10'000));
  EXPECT_EQ(web.outlier_detection->success_rate_minimum_hosts, 5u);
  EXPECT_EQ(web.outlier_detection->success_rate_request_volume, 100u);
  EXPECT_EQ(web.outlier_detection->success_rate_stdev_factor, 1.9);
  EXPECT_EQ(web.panic_threshold, 50.0);
  EXPECT_FALSE(web.slow_start);
  ASSERT_TRUE(web.circuit_breaker);
  EXPECT_EQ(web.circuit_breaker->host.consecutive_failures, 5u);
  EXPECT_EQ(web.circuit_breaker->host.open_time, milliseconds(10'000));
  EXPECT_EQ(web.circuit_breaker->host.half_open_requests, 1u);
  EXPECT_EQ(web.circuit_breaker->max_connections, 1024u);
  EXPECT_EQ(web.circuit_breaker->max_pending, 1024u);
  EXPECT_EQ(web.circuit_breaker->max_requests, 1024u);
  EXPECT_EQ(web.circuit_breaker->max_retries, 3u);
  ASSERT_TRUE(web.retry_budget);
  EXPECT_EQ(web.retry_budget->percent, 20.0);
  EXPECT_EQ(web.retry_budget->min_per_second, 10u);
  EXPECT_EQ(c->unapplied_keys,
            std::vector<std::string>{})
      << "health_check, outlier_detection, circuit_breaker and retry_budget are applied";
}

TEST(Carried, OutlierBreakerPanicAndSlowStartValues) {
  auto c = load_ok(config(
      "",
      "    outlier_detection: { enabled: false, max_ejection_time: 2m, interval: 5s,"
      " success_rate_minimum_hosts: 3, success_rate_request_volume: 20,"
      " success_rate_stdev_factor: 2.5 }\n"
      "    circuit_breaker: { host: { consecutive_failures: 0, open_time: 3s,"
      " half_open_requests: 4 } }\n"
      "    panic_threshold: 0\n"
      "    slow_start: { window: 1m, min_weight_percent: 25 }\n"));
  ASSERT_TRUE(c);
  const Cluster& web = c->clusters[0];
  ASSERT_TRUE(web.outlier_detection);
  EXPECT_FALSE(web.outlier_detection->enabled);
  EXPECT_EQ(web.outlier_detection->max_ejection_time, milliseconds(120'000));
  EXPECT_EQ(web.outlier_detection->interval, milliseconds(5'000));
  EXPECT_EQ(web.outlier_detection->success_rate_minimum_hosts, 3u);
  EXPECT_EQ(web.outlier_detection->success_rate_request_volume, 20u);
  EXPECT_EQ(web.outlier_detection->success_rate_stdev_factor, 2.5);
  ASSERT_TRUE(web.circuit_breaker);
  EXPECT_EQ(web.circuit_breaker->host.consecutive_failures, 0u);
  EXPECT_EQ(web.circuit_breaker->host.open_time, milliseconds(3'000));
  EXPECT_EQ(web.circuit_breaker->host.half_open_requests, 4u);
  EXPECT_EQ(web.panic_threshold, 0.0);
  ASSERT_TRUE(web.slow_start);
  EXPECT_EQ(web.slow_start->window, milliseconds(60'000));
  EXPECT_EQ(web.slow_start->min_weight_percent, 25.0);
}

TEST(Carried, ResilienceExplicitValues) {
  auto c = load_ok(config(
      "",
      "    health_check: { http: /healthz, interval: 5s, timeout: 250ms, unhealthy_threshold: 7,"
      " healthy_threshold: 1 }\n"
      "    outlier_detection: { consecutive_5xx: 0, consecutive_gateway_failure: 9,"
      " base_ejection_time: 1m, max_ejection_percent: 33.5 }\n"
      "    circuit_breaker: { max_connections: 1, max_pending: 0, max_requests: 1000000000,"
      " max_retries: 12 }\n"
      "    retry_budget: { percent: 0.5, min_per_second: 0 }\n"));
  ASSERT_TRUE(c);
  const Cluster& web = c->clusters[0];
  ASSERT_TRUE(web.health_check);
  EXPECT_EQ(web.health_check->kind, HealthCheck::Kind::kHttp);
  EXPECT_EQ(web.health_check->http_path, "/healthz");
  EXPECT_EQ(web.health_check->interval, milliseconds(5000));
  EXPECT_EQ(web.health_check->timeout, milliseconds(250));
  EXPECT_EQ(web.health_check->unhealthy_threshold, 7u);
  EXPECT_EQ(web.health_check->healthy_threshold, 1u);
  ASSERT_TRUE(web.outlier_detection);
  EXPECT_EQ(web.outlier_detection->consecutive_5xx, 0u);
  EXPECT_EQ(web.outlier_detection->consecutive_gateway_failure, 9u);
  EXPECT_EQ(web.outlier_detection->base_ejection_time, milliseconds(60'000));
  EXPECT_EQ(web.outlier_detection->max_ejection_percent, 33.5);
  ASSERT_TRUE(web.circuit_breaker);
  EXPECT_EQ(web.circuit_breaker->max_connections, 1u);
  EXPECT_EQ(web.circuit_breaker->max_pending, 0u);
  EXPECT_EQ(web.circuit_breaker->max_requests, 1'000'000'000u);
  EXPECT_EQ(web.circuit_breaker->max_retries, 12u);
  ASSERT_TRUE(web.retry_budget);
  EXPECT_EQ(web.retry_budget->percent, 0.5);
  EXPECT_EQ(web.retry_budget->min_per_second, 0u);
}

TEST(Carried, TcpHealthCheck) {
  auto c = load_ok(config("", "    health_check: { tcp: true, interval: 3s }\n"));
  ASSERT_TRUE(c && c->clusters[0].health_check);
  EXPECT_EQ(c->clusters[0].health_check->kind, HealthCheck::Kind::kTcp);
  EXPECT_EQ(c->clusters[0].health_check->interval, milliseconds(3000));
}

TEST(Carried, HealthCheckFromAMergedAnchor) {
  auto c = load_ok(config("",
                          "    health_check: &hc { http: /ping }\n"
                          "  - name: api\n"
                          "    endpoints: [127.0.0.1:9002]\n"
                          "    health_check: { <<: *hc, interval: 9s }\n"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->clusters[1].health_check);
  EXPECT_EQ(c->clusters[1].health_check->http_path, "/ping");
  EXPECT_EQ(c->clusters[1].health_check->interval, milliseconds(9000));
  EXPECT_EQ(c->clusters[0].health_check->interval, milliseconds(2000));
}

TEST(Carried, FaultParts) {
  auto c = load_ok(
      config("        fault: { delay: { percent: 12.5, duration: 250ms }, abort: { percent: 1,"
             " status: 418 }, reset: { percent: 0.1 } }\n",
             ""));
  ASSERT_TRUE(c);
  const Route& r = c->listeners[0].routes[0];
  ASSERT_TRUE(r.fault);
  ASSERT_TRUE(r.fault->delay);
  EXPECT_EQ(r.fault->delay->percent, 12.5);
  EXPECT_EQ(r.fault->delay->duration, (LatencyDist{LatencyDist::Kind::kFixed, 250, 0}));
  ASSERT_TRUE(r.fault->abort);
  EXPECT_EQ(r.fault->abort->percent, 1.0);
  EXPECT_EQ(r.fault->abort->status, 418);
  ASSERT_TRUE(r.fault->reset);
  EXPECT_EQ(r.fault->reset->percent, 0.1);
  EXPECT_TRUE(c->unapplied_keys.empty()) << "faults are injected (proxy/fault.h)";
}

TEST(Carried, FaultWithOnePartLeavesTheOthersAbsent) {
  auto c = load_ok(config("        fault: { abort: { percent: 100, status: 503 } }\n", ""));
  ASSERT_TRUE(c);
  const Route& r = c->listeners[0].routes[0];
  ASSERT_TRUE(r.fault);
  EXPECT_FALSE(r.fault->delay);
  EXPECT_FALSE(r.fault->reset);
  ASSERT_TRUE(r.fault->abort);
  EXPECT_EQ(r.fault->abort->percent, 100.0);
  EXPECT_EQ(r.fault->abort->status, 503);
}

TEST(Carried, RegistryDnsAndTlsDefaults) {
  auto c = load_ok(config("", "", "registry: {}\ndns: {}\n"));
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->registry);
  EXPECT_EQ(c->registry->backend, "embedded");
  EXPECT_EQ(c->registry->data_dir, "./causeway-data");
  EXPECT_EQ(c->registry->etcd.endpoints, (std::vector<std::string>{"http://127.0.0.1:2379"}));
  EXPECT_EQ(c->registry->etcd.prefix, "/causeway/");
  ASSERT_TRUE(c->dns);
  EXPECT_EQ(c->dns->listen.text(), "127.0.0.1:8600");
  EXPECT_EQ(c->dns->domain, "internal");
  EXPECT_EQ(c->dns->ttl, milliseconds(5000));
  EXPECT_TRUE(c->dns->recursors.empty());
  EXPECT_TRUE(c->unapplied_keys.empty());  // the registry and the DNS server are served
}

TEST(Carried, RegistryDnsAndTlsExplicitValues) {
  const std::string top =
      "registry: { backend: etcd, data_dir: /var/lib/cw, etcd: { endpoints: [\"http://10.0.0.1:2379\","
      " \"http://[::1]:2379\"], prefix: /x/ } }\n"
      "dns: { listen: \"[::1]:0\", domain: svc.corp, ttl: 0s, recursors: [] }\n";
  std::string yaml = config("", "", top);
  yaml.insert(yaml.find("    routes:"),
              "    tls: { certificates: [{ cert: a.pem, key: a.key }, { cert: b.pem, key: b.key }]"
              " }\n");
  auto c = load_ok(yaml);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->registry);
  EXPECT_EQ(c->registry->backend, "etcd");
  EXPECT_EQ(c->registry->data_dir, "/var/lib/cw");
  EXPECT_EQ(c->registry->etcd.endpoints,
            (std::vector<std::string>{"http://10.0.0.1:2379", "http://[::1]:2379"}));
  EXPECT_EQ(c->registry->etcd.prefix, "/x/");
  ASSERT_TRUE(c->dns);
  EXPECT_EQ(c->dns->listen.text(), "[::1]:0");
  EXPECT_EQ(c->dns->domain, "svc.corp");
  EXPECT_EQ(c->dns->ttl, milliseconds(0));
  EXPECT_TRUE(c->dns->recursors.empty());
  ASSERT_TRUE(c->listeners[0].tls);
  ASSERT_EQ(c->listeners[0].tls->certificates.size(), 2u);
  EXPECT_EQ(c->listeners[0].tls->certificates[1].cert, "b.pem");
  EXPECT_EQ(c->listeners[0].tls->certificates[1].key, "b.key");
  EXPECT_EQ(c->unapplied_keys, (std::vector<std::string>{"listeners[0].tls"}));
}

}  // namespace
}  // namespace cw::config
