// Config -> JSON: duration text, and a round trip (the JSON, read back as YAML, loads to the
// same model).
#include "admin/config_json.h"

#include <gtest/gtest.h>

#include "config/units.h"
#include "fixture.h"

namespace cw::admin {
namespace {

using std::chrono::milliseconds;

TEST(ConfigJson, FormatDuration) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(3000)), "3s");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_duration(milliseconds(1005)), "1.005s");
  EXPECT_EQ(format_duration(milliseconds(60000)), "1m");
  EXPECT_EQ(format_duration(milliseconds(90000)), "1m30s");
  EXPECT_EQ(format_duration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(format_duration(milliseconds(3'661'001)), "1h1m1.001s");
  for (int64_t ms : {0, 1, 999, 1000, 1001, 59'999, 60'000, 61'500, 3'599'999, 86'400'000}) {
    auto back = config::parse_duration(format_duration(milliseconds(ms)));
    ASSERT_TRUE(back) << format_duration(milliseconds(ms));
    EXPECT_EQ(back->count(), ms);
  }
}

TEST(ConfigJson, RoundTripsThroughTheLoader) {
  auto cfg = testing::load(testing::kYaml);
  ASSERT_TRUE(cfg);
  Json j = config_to_json(*cfg);
  j.erase("unapplied_keys");  // a report, not a key of the file
  // Defaulted route names ("edge/3") are shown, but a file cannot spell them (no '/').
  Json file = j;
  for (auto& l : file["listeners"]) {
    for (auto& r : l["routes"]) {
      if (r["name"].get<std::string>().find('/') != std::string::npos) r.erase("name");
    }
  }
  auto again = testing::load(file.dump());
  ASSERT_TRUE(again);
  Json k = config_to_json(*again);
  k.erase("unapplied_keys");
  EXPECT_EQ(j, k);
}

TEST(ConfigJson, AutoWorkersAndAccessLog) {
  auto cfg = testing::load(R"(
workers: auto
access_log: { path: stderr, format: text }
listeners:
  - name: l
    listen: 127.0.0.1:0
    routes:
      - match: { path_regex: "/v[0-9]+/.*", host: "*.example.com" }
        idle_timeout: 5s
        direct_response: { status: 204, body: "" }
clusters: []
)");
  ASSERT_TRUE(cfg);
  Json j = config_to_json(*cfg);
  EXPECT_EQ(j["workers"], "auto");
  EXPECT_EQ(j["access_log"]["path"], "stderr");
  EXPECT_EQ(j["access_log"]["format"], "text");
  const Json& r = j["listeners"][0]["routes"][0];
  EXPECT_EQ(r["match"]["path_regex"], "/v[0-9]+/.*");
  EXPECT_EQ(r["match"]["host"], "*.example.com");
  EXPECT_EQ(r["idle_timeout"], "5s");
  EXPECT_EQ(r["direct_response"]["status"], 204);
  EXPECT_FALSE(r.contains("retry"));
}

TEST(ConfigJson, FaultIsShownAsWrittenAndLoadsBack) {
  const char* yaml = R"(
listeners:
  - name: l
    listen: 127.0.0.1:0
    routes:
      - match: { path_prefix: / }
        cluster: web
        fault:
          delay: { percent: 10, duration: 10ms-1.5s }
          abort: { percent: 5, status: 503 }
          reset: { percent: 0.5 }
          throttle: { percent: 100, bytes_per_second: 64KiB }
clusters:
  - name: web
    endpoints: [127.0.0.1:9001]
)";
  auto cfg = testing::load(yaml);
  ASSERT_TRUE(cfg);
  Json j = config_to_json(*cfg);
  const Json f = j["listeners"][0]["routes"][0]["fault"];  // a copy: j changes below
  EXPECT_EQ(f["delay"]["duration"], "10ms-1.5s");
  EXPECT_EQ(f["delay"]["percent"], 10.0);
  EXPECT_EQ(f["abort"]["status"], 503);
  EXPECT_EQ(f["reset"]["percent"], 0.5);
  EXPECT_EQ(f["throttle"]["bytes_per_second"], 65536);
  j.erase("unapplied_keys");
  j["listeners"][0]["routes"][0].erase("name");
  auto again = testing::load(j.dump());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->listeners[0].routes[0].fault->delay->duration,
            cfg->listeners[0].routes[0].fault->delay->duration);
  const Json k = config_to_json(*again);
  EXPECT_EQ(k["listeners"][0]["routes"][0]["fault"], f);
}

}  // namespace
}  // namespace cw::admin

namespace cw::admin {
namespace {

// The resilience settings apply with their defaults when absent, so /api/v1/config shows them.
TEST(ConfigJson, ResilienceDefaultsAreShown) {
  auto cfg = testing::load(testing::kYaml);
  ASSERT_TRUE(cfg);
  const Json j = config_to_json(*cfg);
  const Json& c = j["clusters"][0];
  EXPECT_EQ(c["circuit_breaker"]["max_pending"], 1024);
  EXPECT_EQ(c["circuit_breaker"]["max_retries"], 3);
  EXPECT_EQ(c["circuit_breaker"]["host"]["consecutive_failures"], 5);
  EXPECT_EQ(c["retry_budget"]["percent"], 20.0);
  EXPECT_EQ(c["outlier_detection"]["enabled"], true);
  EXPECT_EQ(c["panic_threshold"], 50.0);
  EXPECT_EQ(c["pool"]["queue_timeout"], "1s");
}

}  // namespace
}  // namespace cw::admin
