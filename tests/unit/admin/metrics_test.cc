// /metrics: Prometheus families, labels and sums across two workers' shards.
#include "admin/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "fixture.h"

namespace cw::admin {
namespace {

using testing::Fixture;
using ::testing::HasSubstr;
using ::testing::Not;

// Every line that is not a comment is "name{labels} value" with a parseable value.
void expect_well_formed(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    ASSERT_FALSE(line.empty());
    if (line[0] == '#') {
      EXPECT_TRUE(line.rfind("# HELP causeway_", 0) == 0 || line.rfind("# TYPE causeway_", 0) == 0)
          << line;
      continue;
    }
    EXPECT_EQ(line.rfind("causeway_", 0), 0u) << line;
    const size_t sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    const std::string value = line.substr(sp + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    EXPECT_EQ(*end, '\0') << line;
  }
}

TEST(Metrics, SumsShardsAcrossWorkers) {
  Fixture f;
  f.stats(0).route("edge", "api", "api").by_status[200].inc(5);
  f.stats(1).route("edge", "api", "api").by_status[200].inc(7);
  f.stats(1).route("edge", "api", "api").by_status[503].inc(2);
  f.stats(0).requests.inc(10);
  f.stats(1).requests.inc(4);
  f.stats(0).downstream_connections.inc(3);
  f.stats(1).downstream_connections.inc(2);
  f.stats(0).downstream_active.add(2);
  f.stats(1).downstream_active.add(1);
  f.stats(1).downstream_idle.add(1);
  f.stats(0).downstream_denied.inc();
  f.stats(0).errors[size_t(proxy::ProxyError::kUpstreamReset)].inc(2);
  f.stats(1).errors[size_t(proxy::ProxyError::kUpstreamReset)].inc(1);
  f.stats(1).errors[size_t(proxy::ProxyError::kNoRoute)].inc(4);

  auto& api0 = *f.stats(0).clusters.at("api");
  auto& api1 = *f.stats(1).clusters.at("api");
  api0.requests.inc(6);
  api1.requests.inc(4);
  api0.responses_by_class[2].inc(8);
  api1.responses_by_class[5].inc(2);
  api1.responses_by_class[0].inc(1);
  api0.connects.inc(3);
  api1.connects.inc(1);
  api0.reuses.inc(6);
  api1.reuses.inc(2);
  api0.connect_failures.inc(1);
  api1.pool_exhausted.inc(2);
  api0.open_connections.add(3);
  api1.open_connections.add(2);
  api1.idle_connections.add(1);
  f.host(0, "api", "127.0.0.1:9101").requests.inc(4);
  f.host(1, "api", "127.0.0.1:9101").requests.inc(3);
  f.host(1, "api", "127.0.0.1:9102").failures.inc(2);
  f.host(0, "api", "127.0.0.1:9101").active_requests.add(1);
  f.host(1, "api", "127.0.0.1:9101").active_requests.add(2);

  auto r = f.get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& m = r.body;
  expect_well_formed(m);

  EXPECT_THAT(m, HasSubstr("causeway_workers 2\n"));
  EXPECT_THAT(m, HasSubstr("causeway_config_generation 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_build_info{version=\"9.9.9-test\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("# TYPE causeway_requests_total counter\n"));
  EXPECT_THAT(m,
              HasSubstr("causeway_requests_total{listener=\"edge\",route=\"api\",cluster=\"api\","
                        "code=\"200\"} 12\n"));
  EXPECT_THAT(m,
              HasSubstr("causeway_requests_total{listener=\"edge\",route=\"api\",cluster=\"api\","
                        "code=\"503\"} 2\n"));
  EXPECT_THAT(m, Not(HasSubstr("code=\"404\"")));  // only codes seen
  EXPECT_THAT(m, HasSubstr("causeway_downstream_requests_total 14\n"));
  EXPECT_THAT(m, HasSubstr("causeway_downstream_connections_total 5\n"));
  EXPECT_THAT(m, HasSubstr("causeway_downstream_connections_active 3\n"));
  EXPECT_THAT(m, HasSubstr("causeway_downstream_connections_idle 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_downstream_denied_total 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_errors_total{code=\"upstream_reset\"} 3\n"));
  EXPECT_THAT(m, HasSubstr("causeway_errors_total{code=\"no_route\"} 4\n"));
  EXPECT_THAT(m, Not(HasSubstr("causeway_errors_total{code=\"upstream_timeout\"}")));

  EXPECT_THAT(m, HasSubstr("causeway_upstream_requests_total{cluster=\"api\"} 10\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_requests_total{cluster=\"web\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_responses_total{cluster=\"api\",class=\"2xx\"} 8\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_responses_total{cluster=\"api\",class=\"5xx\"} 2\n"));
  EXPECT_THAT(m,
              HasSubstr("causeway_upstream_responses_total{cluster=\"api\",class=\"none\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_connections_opened_total{cluster=\"api\"} 4\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_connection_reuses_total{cluster=\"api\"} 8\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_connect_failures_total{cluster=\"api\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_pool_exhausted_total{cluster=\"api\"} 2\n"));
  EXPECT_THAT(m,
              HasSubstr("causeway_upstream_stale_connections_closed_total{cluster=\"api\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_idle_expired_total{cluster=\"api\"} 0\n"));
  EXPECT_THAT(m,
              HasSubstr("causeway_upstream_reused_connection_resends_total{cluster=\"api\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_connections_open{cluster=\"api\"} 5\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_connections_idle{cluster=\"api\"} 1\n"));
  EXPECT_THAT(
      m,
      HasSubstr("causeway_upstream_connection_reuse_ratio{cluster=\"api\"} 0.6666666666666666\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_connection_reuse_ratio{cluster=\"web\"} 0\n"));
  EXPECT_THAT(
      m, HasSubstr(
             "causeway_upstream_host_requests_total{cluster=\"api\",host=\"127.0.0.1:9101\"} 7\n"));
  EXPECT_THAT(
      m, HasSubstr(
             "causeway_upstream_host_failures_total{cluster=\"api\",host=\"127.0.0.1:9102\"} 2\n"));
  EXPECT_THAT(
      m,
      HasSubstr(
          "causeway_upstream_host_active_requests{cluster=\"api\",host=\"127.0.0.1:9101\"} 3\n"));
  EXPECT_THAT(
      m, HasSubstr(
             "causeway_upstream_host_requests_total{cluster=\"web\",host=\"127.0.0.1:9001\"} 0\n"));
}

TEST(Metrics, BreakerRejectionsQueueWaitAndPending) {
  using resilience::Limit;
  Fixture f;
  auto& api0 = *f.stats(0).clusters.at("api");
  auto& api1 = *f.stats(1).clusters.at("api");
  api0.breaker_rejections[size_t(Limit::kMaxPending)].inc(3);
  api1.breaker_rejections[size_t(Limit::kMaxPending)].inc(2);
  api1.breaker_rejections[size_t(Limit::kMaxConnections)].inc(1);
  api0.pending.add(2);
  api1.active_requests.add(7);
  api0.queue_timeouts.inc(1);
  api0.queue_wait.observe_us(3'000);  // in (2.5, 5] ms
  api1.queue_wait.observe_us(40'000);
  f.host(1, "api", "127.0.0.1:9102").pending.add(2);
  const std::string m = f.get("/metrics").body;
  expect_well_formed(m);
  EXPECT_THAT(m, HasSubstr("# TYPE causeway_breaker_rejections_total counter\n"));
  EXPECT_THAT(m, HasSubstr("causeway_breaker_rejections_total{cluster=\"api\","
                           "limit=\"max_pending\"} 5\n"));
  EXPECT_THAT(m, HasSubstr("causeway_breaker_rejections_total{cluster=\"api\","
                           "limit=\"max_connections\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_breaker_rejections_total{cluster=\"web\","
                           "limit=\"max_requests\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_pending_requests{cluster=\"api\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_active_requests{cluster=\"api\"} 7\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_active_retries{cluster=\"api\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_pool_queue_timeouts_total{cluster=\"api\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("# TYPE causeway_pool_queue_wait_seconds histogram\n"));
  EXPECT_THAT(m, HasSubstr("causeway_pool_queue_wait_seconds_bucket{cluster=\"api\","
                           "le=\"0.005\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("causeway_pool_queue_wait_seconds_bucket{cluster=\"api\","
                           "le=\"+Inf\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("causeway_pool_queue_wait_seconds_count{cluster=\"api\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("causeway_pool_queue_wait_seconds_sum{cluster=\"api\"} 0.043\n"));
  EXPECT_THAT(m, HasSubstr("causeway_upstream_host_pending_requests{cluster=\"api\","
                           "host=\"127.0.0.1:9102\"} 2\n"));
}

TEST(Metrics, EveryFamilyHasHelpAndType) {
  Fixture f;
  const std::string m = f.get("/metrics").body;
  for (const char* fam : {"requests_total",
                          "request_duration_seconds",
                          "downstream_connections_total",
                          "downstream_connections_active",
                          "downstream_connections_idle",
                          "downstream_denied_total",
                          "downstream_requests_total",
                          "errors_total",
                          "upstream_requests_total",
                          "upstream_responses_total",
                          "upstream_connections_opened_total",
                          "upstream_connect_failures_total",
                          "upstream_connection_reuses_total",
                          "upstream_stale_connections_closed_total",
                          "upstream_idle_expired_total",
                          "upstream_pool_exhausted_total",
                          "upstream_reused_connection_resends_total",
                          "upstream_connections_open",
                          "upstream_connections_idle",
                          "upstream_connection_reuse_ratio",
                          "upstream_host_requests_total",
                          "upstream_host_active_requests",
                          "upstream_host_failures_total",
                          "workers",
                          "config_generation"}) {
    EXPECT_THAT(m, HasSubstr(std::string("# HELP causeway_") + fam + " ")) << fam;
    EXPECT_THAT(m, HasSubstr(std::string("# TYPE causeway_") + fam + " ")) << fam;
  }
  // Each family is declared once.
  size_t n = 0;
  for (size_t p = m.find("# TYPE causeway_requests_total "); p != std::string::npos;
       p = m.find("# TYPE causeway_requests_total ", p + 1))
    ++n;
  EXPECT_EQ(n, 1u);
}

TEST(Metrics, LatencyHistogramIsCumulativeInSeconds) {
  Fixture f;
  auto& a = f.stats(0).route("edge", "api", "api").latency;
  auto& b = f.stats(1).route("edge", "api", "api").latency;
  a.observe_us(200);    // 0.2ms -> le 0.00025
  a.observe_us(3'000);  // 3ms -> le 0.005
  b.observe_us(3'000);
  b.observe_us(60'000'000);  // 60s -> +Inf
  const std::string m = f.get("/metrics").body;
  EXPECT_THAT(m, HasSubstr("# TYPE causeway_request_duration_seconds histogram\n"));
  const std::string p =
      "causeway_request_duration_seconds_bucket{listener=\"edge\",route=\"api\",le=";
  EXPECT_THAT(m, HasSubstr(p + "\"0.00025\"} 1\n"));
  EXPECT_THAT(m, HasSubstr(p + "\"0.0025\"} 1\n"));
  EXPECT_THAT(m, HasSubstr(p + "\"0.005\"} 3\n"));
  EXPECT_THAT(m, HasSubstr(p + "\"30\"} 3\n"));
  EXPECT_THAT(m, HasSubstr(p + "\"+Inf\"} 4\n"));
  EXPECT_THAT(
      m, HasSubstr("causeway_request_duration_seconds_count{listener=\"edge\",route=\"api\"} 4\n"));
  EXPECT_THAT(
      m, HasSubstr(
             "causeway_request_duration_seconds_sum{listener=\"edge\",route=\"api\"} 60.0062\n"));
  // Routes without samples still expose a zero histogram.
  EXPECT_THAT(
      m,
      HasSubstr("causeway_request_duration_seconds_count{listener=\"edge\",route=\"hello\"} 0\n"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(escape_label_value("x\ny"), "x\\ny");
  StatsSum s;
  s.clusters["we\"ird"].requests = 1;
  const std::string m = render_metrics(s, {});
  EXPECT_THAT(m, HasSubstr("causeway_upstream_requests_total{cluster=\"we\\\"ird\"} 1\n"));
}

TEST(Metrics, RemovedRoutesKeepTheirCountersAfterReload) {
  Fixture f;
  f.stats(0).route("edge", "old", "").by_status[301].inc(2);
  f.next_yaml = R"(
listeners:
  - name: edge
    listen: 127.0.0.1:0
    routes:
      - match: { path_prefix: / }
        cluster: web
clusters:
  - name: web
    endpoints: [127.0.0.1:9001]
)";
  ASSERT_TRUE(f.reload().ok);
  const std::string m = f.get("/metrics").body;
  EXPECT_THAT(m, HasSubstr("causeway_config_generation 2\n"));
  EXPECT_THAT(m, HasSubstr("route=\"old\",cluster=\"\",code=\"301\"} 2\n"));
}

}  // namespace
}  // namespace cw::admin
