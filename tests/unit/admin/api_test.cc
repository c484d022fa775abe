// The JSON API and the endpoint table through AdminServer::handle(): clusters, listeners,
// config, reload, health/readiness, and the 400/404/405 answers.
#include "admin/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixture.h"

namespace cw::admin {
namespace {

using nlohmann::json;
using testing::Fixture;
using ::testing::HasSubstr;

TEST(AdminApi, HealthzAndReady) {
  Fixture f;
  auto h = f.get("/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "{\"status\":\"ok\"}\n");
  auto r = f.get("/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"ready\":true}\n");
  f.ready = false;
  r = f.get("/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "{\"ready\":false}\n");
  // HEAD is answered like GET (the socket layer drops the body).
  EXPECT_EQ(f.server->handle("HEAD", "/healthz", "").status, 200);
}

TEST(AdminApi, ClustersSumHostsAcrossWorkers) {
  Fixture f;
  f.host(0, "api", "127.0.0.1:9101").requests.inc(4);
  f.host(1, "api", "127.0.0.1:9101").requests.inc(6);
  f.host(1, "api", "127.0.0.1:9101").failures.inc(1);
  f.host(0, "api", "127.0.0.1:9101").active_requests.add(2);
  f.host(1, "api", "127.0.0.1:9101").active_requests.add(1);
  // 10 samples: 5 in (0.5, 1] ms, 5 in (5, 10] ms.
  for (int i = 0; i < 5; ++i) f.host(0, "api", "127.0.0.1:9101").latency.observe_us(800);
  for (int i = 0; i < 5; ++i) f.host(1, "api", "127.0.0.1:9101").latency.observe_us(8'000);
  f.host(0, "api", "127.0.0.1:9101").ewma_us.set(1500);
  f.host(1, "api", "127.0.0.1:9101").ewma_us.set(7250);  // the worse worker's view is shown
  f.stats(0).clusters.at("api")->requests.inc(10);
  f.stats(0).clusters.at("api")->connects.inc(1);
  f.stats(1).clusters.at("api")->reuses.inc(3);
  f.stats(1).clusters.at("api")->open_connections.add(2);
  f.stats(0).clusters.at("api")->idle_connections.add(1);
  f.snap->clusters[0]->hosts[1]->healthy.store(false);

  json j = f.get_json("/api/v1/clusters");
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  const json& api = j[0];
  EXPECT_EQ(api["name"], "api");
  EXPECT_EQ(api["lb"], "least_request");
  EXPECT_EQ(api["discovery"], "static");
  EXPECT_EQ(api["requests"], 10);
  EXPECT_EQ(api["connections_open"], 2);
  EXPECT_EQ(api["connections_idle"], 1);
  EXPECT_DOUBLE_EQ(api["reuse_ratio"].get<double>(), 0.75);
  ASSERT_EQ(api["hosts"].size(), 2u);
  const json& h0 = api["hosts"][0];
  EXPECT_EQ(h0["address"], "127.0.0.1:9101");
  EXPECT_EQ(h0["weight"], 1);
  EXPECT_EQ(h0["healthy"], true);
  EXPECT_EQ(h0["active_requests"], 3);
  EXPECT_EQ(h0["requests"], 10);
  EXPECT_EQ(h0["failures"], 1);
  // p50: rank 5 is the last sample of the (0.5, 1] bucket -> 1.0; p90: rank 9 of 10 falls
  // 4/5 into (5, 10] -> 9.0; p99: 9.9.
  EXPECT_DOUBLE_EQ(h0["latency_ms"]["p50"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(h0["latency_ms"]["p90"].get<double>(), 9.0);
  EXPECT_NEAR(h0["latency_ms"]["p99"].get<double>(), 9.9, 1e-9);
  EXPECT_DOUBLE_EQ(h0["ewma_latency_ms"].get<double>(), 7.25);
  const json& h1 = api["hosts"][1];
  EXPECT_EQ(h1["address"], "127.0.0.1:9102");
  EXPECT_EQ(h1["weight"], 3);
  EXPECT_EQ(h1["healthy"], false);
  EXPECT_TRUE(h1["latency_ms"]["p50"].is_null());
  EXPECT_TRUE(h1["latency_ms"]["p99"].is_null());
  EXPECT_EQ(j[1]["name"], "web");
  EXPECT_EQ(j[1]["reuse_ratio"], 0);
}

TEST(AdminApi, ClustersShowBreakerLimitsAndThePoolQueue) {
  using resilience::Limit;
  Fixture f;  // two workers; the api cluster has no circuit_breaker key: the defaults apply
  auto& api0 = *f.stats(0).clusters.at("api");
  auto& api1 = *f.stats(1).clusters.at("api");
  api0.pending.add(3);
  api1.pending.add(1);
  api0.active_requests.add(2);
  api1.open_connections.add(5);
  api1.active_retries.add(1);
  api0.breaker_rejections[size_t(Limit::kMaxPending)].inc(4);
  api1.breaker_rejections[size_t(Limit::kMaxPending)].inc(1);
  api1.queue_timeouts.inc(2);
  api0.queue_wait.observe_us(800);
  f.host(0, "api", "127.0.0.1:9101").pending.add(3);
  f.host(1, "api", "127.0.0.1:9101").pending.add(1);

  json j = f.get_json("/api/v1/clusters");
  const json& api = j[0];
  EXPECT_EQ(api["pending_requests"], 4);
  EXPECT_EQ(api["active_requests"], 2);
  EXPECT_EQ(api["hosts"][0]["pending_requests"], 4);
  EXPECT_EQ(api["hosts"][1]["pending_requests"], 0);
  const json& cb = api["circuit_breaker"];
  EXPECT_EQ(cb["workers"], 2);
  EXPECT_EQ(cb["max_pending"],
            json({{"limit", 1024}, {"per_worker", 512}, {"in_use", 4}, {"rejections", 5}}));
  EXPECT_EQ(cb["max_connections"]["in_use"], 5);
  EXPECT_EQ(cb["max_requests"]["in_use"], 2);
  EXPECT_EQ(cb["max_retries"]["limit"], 3);
  EXPECT_EQ(cb["max_retries"]["per_worker"], 2);
  EXPECT_EQ(cb["max_retries"]["in_use"], 1);
  const json& q = api["pool_queue"];
  EXPECT_EQ(q["timeout_ms"], 1000);
  EXPECT_EQ(q["pending"], 4);
  EXPECT_EQ(q["timeouts"], 2);
  EXPECT_EQ(q["waits"], 1);
  EXPECT_DOUBLE_EQ(q["wait_ms"]["p50"].get<double>(), 0.75);
}

TEST(AdminApi, Listeners) {
  Fixture f;
  json j = f.get_json("/api/v1/listeners");
  ASSERT_EQ(j.size(), 1u);
  const json& l = j[0];
  EXPECT_EQ(l["name"], "edge");
  EXPECT_EQ(l["address"], "127.0.0.1:0");
  EXPECT_EQ(l["protocol"], "http");
  EXPECT_EQ(l["access"]["allow"], json({"10.0.0.0/8", "127.0.0.0/8"}));
  EXPECT_EQ(l["access"]["deny"], json({"10.9.0.0/16"}));
  EXPECT_EQ(l["trusted_proxies"], json({"127.0.0.0/8"}));
  ASSERT_EQ(l["routes"].size(), 4u);
  const json& api = l["routes"][0];
  EXPECT_EQ(api["name"], "api");
  EXPECT_EQ(api["match"]["path_prefix"], "/api/");
  EXPECT_EQ(api["match"]["method"], json({"GET", "POST"}));
  EXPECT_EQ(api["match"]["headers"][0]["name"], "x-env");
  EXPECT_EQ(api["match"]["headers"][0]["exact"], "prod");
  EXPECT_FALSE(api["match"].contains("path"));
  EXPECT_EQ(api["cluster"], "api");
  EXPECT_EQ(api["timeout_ms"], 3000);
  EXPECT_EQ(l["routes"][1]["direct_response"]["status"], 200);
  EXPECT_FALSE(l["routes"][1].contains("cluster"));
  EXPECT_EQ(l["routes"][2]["redirect"]["location"], "/new");
  EXPECT_EQ(l["routes"][2]["redirect"]["status"], 301);
  EXPECT_EQ(l["routes"][3]["name"], "edge/3");
  EXPECT_EQ(l["routes"][3]["timeout_ms"], 15000);
}

TEST(AdminApi, ListenersShowTheBoundAddressWhenKnown) {
  Fixture f;
  AdminHooks h;
  h.snapshot = [&f] { return f.snap; };
  h.bound_listeners = [&f] {
    return std::map<std::string, rt::SocketAddress>{
        {f.snap->listeners[0]->key, *rt::SocketAddress::parse("127.0.0.1:18080")}};
  };
  AdminServer s(f.loop, std::move(h));
  json j = json::parse(s.handle("GET", "/api/v1/listeners", "").body);
  EXPECT_EQ(j[0]["address"], "127.0.0.1:18080");
  EXPECT_EQ(j[0]["configured_address"], "127.0.0.1:0");
}

TEST(AdminApi, Config) {
  Fixture f;
  json j = f.get_json("/api/v1/config");
  EXPECT_EQ(j["source"], "test.yaml");
  EXPECT_EQ(j["generation"], 1);
  EXPECT_EQ(j["workers"], 2);
  EXPECT_EQ(j["admin"]["listen"], "127.0.0.1:0");
  EXPECT_EQ(j["drain_timeout"], "1m30s");
  EXPECT_FALSE(j.contains("access_log"));
  const json& l = j["listeners"][0];
  EXPECT_EQ(l["listen"], "127.0.0.1:0");
  EXPECT_EQ(l["header_read_timeout"], "2.5s");
  EXPECT_EQ(l["idle_timeout"], "1m");
  EXPECT_EQ(l["max_header_bytes"], 65536);
  EXPECT_EQ(l["max_headers"], 100);
  const json& r = l["routes"][0];
  EXPECT_EQ(r["timeout"], "3s");
  EXPECT_EQ(r["retry"]["attempts"], 2);
  EXPECT_EQ(r["retry"]["per_try_timeout"], "1s");
  EXPECT_EQ(r["retry"]["retry_on"], json({"connect-failure", "503"}));
  EXPECT_EQ(r["retry"]["backoff"]["base"], "25ms");
  EXPECT_EQ(r["retry"]["backoff"]["max"], "250ms");
  EXPECT_EQ(l["routes"][1]["direct_response"]["body"], "hi");
  EXPECT_EQ(l["routes"][1]["direct_response"]["content_type"], "text/plain");
  const json& c = j["clusters"][0];
  EXPECT_EQ(c["name"], "api");
  EXPECT_EQ(c["endpoints"][1]["address"], "127.0.0.1:9102");
  EXPECT_EQ(c["endpoints"][1]["weight"], 3);
  EXPECT_EQ(c["connect_timeout"], "1s");
  EXPECT_EQ(c["hash_on"], "source_ip");
  EXPECT_EQ(c["protocol"], "http1");
  EXPECT_EQ(c["pool"]["max_connections"], 10);
  EXPECT_EQ(c["pool"]["max_idle"], 5);
  EXPECT_EQ(c["pool"]["idle_timeout"], "1m30s");
  EXPECT_EQ(c["pool"]["queue_timeout"], "1s");  // the default
  EXPECT_TRUE(j["unapplied_keys"].is_array());
}

TEST(AdminApi, ReloadOkAndRefused) {
  Fixture f;
  f.next_yaml = std::string(testing::kYaml) + "  - name: extra\n    endpoints: [127.0.0.1:9201]\n";
  auto ok = f.server->handle("POST", "/api/v1/reload", "");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body), json({{"status", "reloaded"}, {"generation", 2}}));
  EXPECT_EQ(f.get_json("/api/v1/clusters").size(), 3u);

  f.next_yaml = "listeners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes: []\n";
  auto bad = f.server->handle("POST", "/api/v1/reload", "");
  EXPECT_EQ(bad.status, 400);
  json b = json::parse(bad.body);
  EXPECT_EQ(b["error"], "config_invalid");
  EXPECT_EQ(b["generation"], 2);
  ASSERT_FALSE(b["errors"].empty());
  EXPECT_THAT(b["errors"][0].get<std::string>(), HasSubstr("test.yaml:"));
  EXPECT_EQ(f.get_json("/api/v1/config")["generation"], 2);  // still serving

  auto get = f.get("/api/v1/reload");
  EXPECT_EQ(get.status, 405);
}

TEST(AdminApi, ReloadAnswersByOutcome) {
  ReloadOutcome pending;
  pending.ok = true;
  pending.generation = 7;
  pending.workers_pending = 1;
  auto r = reload_reply(pending);
  EXPECT_EQ(r.status, 202);
  json j = json::parse(r.body);
  EXPECT_EQ(j["status"], "installing");
  EXPECT_EQ(j["generation"], 7);
  EXPECT_EQ(j["workers_pending"], 1);

  ReloadOutcome refused;
  refused.generation = 7;
  refused.errors = {"listener extra: cannot listen on 127.0.0.1:80: Permission denied"};
  r = reload_reply(refused);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["errors"][0], refused.errors[0]);
}

TEST(AdminApi, NotFoundMethodNotAllowedAndBadRequest) {
  Fixture f;
  auto nf = f.get("/api/v1/nope?x=1");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(json::parse(nf.body), json({{"error", "not_found"}, {"path", "/api/v1/nope"}}));

  auto na = f.server->handle("DELETE", "/metrics", "");
  EXPECT_EQ(na.status, 405);
  json j = json::parse(na.body);
  EXPECT_EQ(j["error"], "method_not_allowed");
  EXPECT_EQ(j["allow"], json({"GET", "HEAD"}));
  ASSERT_EQ(na.headers.size(), 1u);
  EXPECT_EQ(na.headers[0].first, "Allow");
  EXPECT_EQ(na.headers[0].second, "GET, HEAD");

  auto post = f.server->handle("PUT", "/api/v1/reload", "");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(json::parse(post.body)["allow"], json({"POST"}));

  for (auto [m, t] : {std::pair{"GET", "metrics"}, std::pair{"GET", ""}, std::pair{"", "/"},
                      std::pair{"G ET", "/"}, std::pair{"GET", "*"}}) {
    auto r = f.server->handle(m, t, "");
    EXPECT_EQ(r.status, 400) << m << " " << t;
    EXPECT_EQ(json::parse(r.body)["error"], "bad_request");
  }
  // Bytes that are not UTF-8 are echoed safely, never thrown on.
  auto odd = f.get("/\xff\xfe");
  EXPECT_EQ(odd.status, 404);
  EXPECT_TRUE(json::accept(odd.body));
}

TEST(AdminApi, IndexPageListsEndpoints) {
  Fixture f;
  auto r = f.get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  for (const char* p : {"/healthz", "/ready", "/metrics", "/api/v1/clusters", "/api/v1/listeners",
                        "/api/v1/config", "/api/v1/reload", "9.9.9-test"}) {
    EXPECT_THAT(r.body, HasSubstr(p));
  }
}

TEST(AdminApi, WorksWithoutSnapshotOrHooks) {
  rt::EventLoop loop;
  AdminServer s(loop, AdminHooks{});
  EXPECT_EQ(s.handle("GET", "/healthz", "").status, 200);
  EXPECT_EQ(s.handle("GET", "/ready", "").status, 503);
  EXPECT_EQ(s.handle("GET", "/api/v1/clusters", "").status, 503);
  EXPECT_EQ(s.handle("GET", "/api/v1/config", "").status, 503);
  EXPECT_EQ(s.handle("POST", "/api/v1/reload", "").status, 501);
  auto m = s.handle("GET", "/metrics", "");
  EXPECT_EQ(m.status, 200);
  EXPECT_THAT(m.body, HasSubstr("causeway_workers 0\n"));
}

}  // namespace
}  // namespace cw::admin
