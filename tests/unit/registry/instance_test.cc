// Registration parsing: the good shapes, the round trip, and every kind of bad call refused with
// the field it names.
#include "registry/instance.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cw::registry {
namespace {

TEST(RegistryInstance, ParsesTheSpecExample) {
  auto r = parse_instance("api", "api-1",
                          R"({"address": "127.0.0.2", "port": 9001, "tags": ["canary"],
                              "meta": {"version": "1.2"}, "weight": 3,
                              "check": {"http": "/healthz", "interval": "2s", "timeout": "1s"}})");
  ASSERT_TRUE(r) << r.error().field << ": " << r.error().message;
  EXPECT_EQ(r->service, "api");
  EXPECT_EQ(r->id, "api-1");
  EXPECT_EQ(r->address, "127.0.0.2");
  EXPECT_FALSE(r->ipv6);
  EXPECT_EQ(r->port, 9001);
  EXPECT_EQ(r->tags, std::vector<std::string>{"canary"});
  EXPECT_EQ(r->meta.at("version"), "1.2");
  EXPECT_EQ(r->weight, 3u);
  EXPECT_EQ(r->check.kind, CheckKind::kHttp);
  EXPECT_EQ(r->check.http_path, "/healthz");
  EXPECT_EQ(r->check.interval_ms, 2000);
  EXPECT_EQ(r->check.timeout_ms, 1000);
}

TEST(RegistryInstance, DefaultsAndOtherChecks) {
  auto r = parse_instance("web", "w1", R"({"address": "::1", "port": 80})");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ipv6);
  EXPECT_EQ(r->weight, 1u);
  EXPECT_EQ(r->check.kind, CheckKind::kNone);
  EXPECT_TRUE(r->tags.empty());

  auto tcp = parse_instance("web", "w1", R"({"address": "10.0.0.1", "port": 1, "check": {"tcp": true}})");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->check.kind, CheckKind::kTcp);
  EXPECT_EQ(tcp->check.interval_ms, kDefaultCheckIntervalMs);
  EXPECT_EQ(tcp->check.timeout_ms, kDefaultCheckTimeoutMs);
  // A short interval without a timeout: the default timeout shrinks to fit, no error.
  auto quick = parse_instance("web", "w1", R"({"address": "10.0.0.1", "port": 1, "check": {"http": "/h", "interval": "300ms"}})");
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->check.timeout_ms, 300);

  auto ttl = parse_instance("web", "w1", R"({"address": "10.0.0.1", "port": 65535, "check": {"ttl": "30s"}})");
  ASSERT_TRUE(ttl);
  EXPECT_EQ(ttl->check.kind, CheckKind::kTtl);
  EXPECT_EQ(ttl->check.ttl_ms, 30000);

  auto none = parse_instance("web", "w1", R"({"address": "10.0.0.1", "port": 5, "check": null, "tags": null, "meta": null})");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->check.kind, CheckKind::kNone);
}

TEST(RegistryInstance, AddressesAreCanonical) {
  auto r = parse_instance("a", "b", R"({"address": "2001:DB8:0:0::1", "port": 5})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->address, "2001:db8::1");
}

TEST(RegistryInstance, JsonRoundTrips) {
  auto r = parse_instance("api", "api-1",
                          R"({"address": "127.0.0.2", "port": 9001, "tags": ["b", "a"],
                              "meta": {"k": "v"}, "weight": 7,
                              "check": {"tcp": true, "interval": "1m30s", "timeout": "250ms"}})");
  ASSERT_TRUE(r);
  nlohmann::json j = instance_json(*r);
  EXPECT_EQ(j["check"]["interval"], "90s");
  j.erase("service");
  j.erase("id");
  auto again = parse_instance("api", "api-1", j.dump());
  ASSERT_TRUE(again) << again.error().field << ": " << again.error().message;
  EXPECT_EQ(*again, *r);
  auto ttl = parse_instance("a", "b", R"({"address": "1.2.3.4", "port": 5, "check": {"ttl": "2m"}})");
  ASSERT_TRUE(ttl);
  EXPECT_EQ(check_json(ttl->check).dump(), R"({"ttl":"2m"})");
}

TEST(RegistryInstance, Labels) {
  EXPECT_TRUE(is_label("a"));
  EXPECT_TRUE(is_label("auth-service"));
  EXPECT_TRUE(is_label(std::string(63, 'x')));
  EXPECT_FALSE(is_label(std::string(64, 'x')));
  EXPECT_FALSE(is_label(""));
  EXPECT_FALSE(is_label("a.b"));
  EXPECT_FALSE(is_label("Api"));
  EXPECT_FALSE(is_label("-a"));
  EXPECT_FALSE(is_label("a-"));
  EXPECT_FALSE(is_label("a_b"));
  EXPECT_FALSE(is_label(std::string("a\0b", 3)));
}

struct BadCall {
  std::string service;
  std::string id;
  std::string body;
  std::string field;  // the field the error must name
};

const std::string kOk = R"("address": "127.0.0.2", "port": 9001)";

std::vector<BadCall> bad_calls() {
  return {
      {"api", "i1", "", "body"},
      {"api", "i1", "{", "body"},
      {"api", "i1", "not json", "body"},
      {"api", "i1", "[1, 2]", "body"},
      {"api", "i1", "\"text\"", "body"},
      {"api", "i1", "{" + kOk + ", \"port\": 81}", "port"},  // a key twice
      {"api", "i1", "{" + kOk + ", \"\": 1}", "(empty key)"},  // found by the fuzzer
      {"api", "i1", "{" + kOk + ", \"check\": {\"ttl\": \"5s\", \"ttl\": \"6s\"}}", "ttl"},
      {"api", "i1", std::string(100, '[') + std::string(100, ']'), "body"},
      {"api", "i1", "{" + kOk + ", \"pad\": \"" + std::string(kMaxBodyBytes, 'x') + "\"}", "body"},
      {"api.v2", "i1", "{" + kOk + "}", "service"},
      {std::string(64, 'a'), "i1", "{" + kOk + "}", "service"},
      {"", "i1", "{" + kOk + "}", "service"},
      {"API", "i1", "{" + kOk + "}", "service"},
      {"api", "i_1", "{" + kOk + "}", "id"},
      {"api", std::string(64, 'b'), "{" + kOk + "}", "id"},
      {"api", "i1", R"({"port": 9001})", "address"},
      {"api", "i1", R"({"address": "127.0.0.2"})", "port"},
      {"api", "i1", R"({"address": "example.com", "port": 9001})", "address"},
      {"api", "i1", R"({"address": "127.0.0.256", "port": 9001})", "address"},
      {"api", "i1", R"({"address": "0.0.0.0", "port": 9001})", "address"},
      {"api", "i1", R"({"address": "224.0.0.1", "port": 9001})", "address"},
      {"api", "i1", R"({"address": "::", "port": 9001})", "address"},
      {"api", "i1", R"({"address": 2130706433, "port": 9001})", "address"},
      {"api", "i1", R"({"address": "127.0.0.2", "port": 0})", "port"},
      {"api", "i1", R"({"address": "127.0.0.2", "port": 70000})", "port"},
      {"api", "i1", R"({"address": "127.0.0.2", "port": -1})", "port"},
      {"api", "i1", R"({"address": "127.0.0.2", "port": "80"})", "port"},
      {"api", "i1", R"({"address": "127.0.0.2", "port": 80.5})", "port"},
      {"api", "i1", "{" + kOk + R"(, "weight": 0})", "weight"},
      {"api", "i1", "{" + kOk + R"(, "weight": 70000})", "weight"},
      {"api", "i1", "{" + kOk + R"(, "tags": "canary"})", "tags"},
      {"api", "i1", "{" + kOk + R"(, "tags": ["ok", "not ok"]})", "tags[1]"},
      {"api", "i1", "{" + kOk + R"(, "tags": ["a", "a"]})", "tags[1]"},
      {"api", "i1", "{" + kOk + R"(, "tags": [1]})", "tags[0]"},
      {"api", "i1", "{" + kOk + R"(, "meta": {"k": 1}})", "meta.k"},
      {"api", "i1", "{" + kOk + R"(, "meta": {"bad key": "v"}})", "meta.bad key"},
      {"api", "i1", "{" + kOk + R"(, "meta": {"k": ")" + std::string(600, 'v') + "\"}}", "meta.k"},
      {"api", "i1", "{" + kOk + R"(, "meta": []})", "meta"},
      {"api", "i1", "{" + kOk + R"(, "check": {"grpc": "x"}})", "check.grpc"},
      {"api", "i1", "{" + kOk + R"(, "check": {"interval": "2s"}})", "check"},
      {"api", "i1", "{" + kOk + R"(, "check": {"http": "/h", "tcp": true}})", "check"},
      {"api", "i1", "{" + kOk + R"(, "check": {"http": "healthz"}})", "check.http"},
      {"api", "i1", "{" + kOk + R"(, "check": {"http": "/a b"}})", "check.http"},
      {"api", "i1", "{" + kOk + R"(, "check": {"tcp": false}})", "check.tcp"},
      {"api", "i1", "{" + kOk + R"(, "check": {"tcp": true, "interval": "soon"}})", "check.interval"},
      {"api", "i1", "{" + kOk + R"(, "check": {"tcp": true, "interval": "1ms"}})", "check.interval"},
      {"api", "i1", "{" + kOk + R"(, "check": {"tcp": true, "interval": "1s", "timeout": "2s"}})", "check.timeout"},
      {"api", "i1", "{" + kOk + R"(, "check": {"ttl": "10ms"}})", "check.ttl"},
      {"api", "i1", "{" + kOk + R"(, "check": {"ttl": "30s", "interval": "1s"}})", "check.interval"},
      {"api", "i1", "{" + kOk + R"(, "check": "http"})", "check"},
      {"api", "i1", "{" + kOk + R"(, "Address": "127.0.0.3"})", "Address"},
      {"api", "i1", "{" + kOk + R"(, "id": "i1"})", "id"},
  };
}

TEST(RegistryInstance, BadCallsNameTheirField) {
  const auto calls = bad_calls();
  EXPECT_GE(calls.size(), 40u);
  for (const auto& c : calls) {
    auto r = parse_instance(c.service, c.id, c.body);
    ASSERT_FALSE(r) << "accepted: " << c.body.substr(0, 120);
    EXPECT_EQ(r.error().field, c.field) << c.body.substr(0, 120) << " -> " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
}

TEST(RegistryInstance, DurationText) {
  EXPECT_EQ(duration_text(250), "250ms");
  EXPECT_EQ(duration_text(2000), "2s");
  EXPECT_EQ(duration_text(120000), "2m");
  EXPECT_EQ(duration_text(7200000), "2h");
  EXPECT_EQ(duration_text(1500), "1500ms");
}

}  // namespace
}  // namespace cw::registry
