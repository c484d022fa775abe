// clusters[].health_check as applied by the health layer: host, expected_statuses and jitter
// (values, defaults, errors with file:line:col), and the check is no longer listed unapplied.
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using test::kListener;
using test::kWeb;

// The check's keys go on line 10 ("    health_check: { ... }").
LoadResult load(const std::string& check) {
  return load_config_string(kListener + kWeb + "    health_check: " + check + "\n",
                            "causeway.yaml");
}

std::string one_error(const std::string& check) {
  const LoadResult r = load(check);
  EXPECT_EQ(r.errors.size(), 1u) << test::dump(r);
  return r.errors.empty() ? "" : r.errors[0].format();
}

TEST(HealthCheckConfig, DefaultsAndApplied) {
  const LoadResult r = load("{ http: /healthz }");
  ASSERT_TRUE(r.ok()) << test::dump(r);
  const HealthCheck& h = *r.config->clusters[0].health_check;
  EXPECT_EQ(h.host, "");
  ASSERT_EQ(h.expected_statuses.size(), 1u);
  EXPECT_EQ(h.expected_statuses[0].lo, 200);
  EXPECT_EQ(h.expected_statuses[0].hi, 399);
  EXPECT_EQ(h.jitter_percent, 10.0);
  EXPECT_TRUE(r.config->unapplied_keys.empty());
}

TEST(HealthCheckConfig, ExplicitValues) {
  const LoadResult r =
      load("{ http: \"/ready?full=1\", host: api.internal, expected_statuses: [200, \"204-206\"], "
           "jitter: 0 }");
  ASSERT_TRUE(r.ok()) << test::dump(r);
  const HealthCheck& h = *r.config->clusters[0].health_check;
  EXPECT_EQ(h.http_path, "/ready?full=1");
  EXPECT_EQ(h.host, "api.internal");
  ASSERT_EQ(h.expected_statuses.size(), 2u);
  EXPECT_EQ(h.expected_statuses[0].lo, 200);
  EXPECT_EQ(h.expected_statuses[0].hi, 200);
  EXPECT_EQ(h.expected_statuses[1].lo, 204);
  EXPECT_EQ(h.expected_statuses[1].hi, 206);
  EXPECT_EQ(h.jitter_percent, 0.0);
}

TEST(HealthCheckConfig, Errors) {
  EXPECT_EQ(one_error("{ http: /h, expected_statuses: [200, 99] }"),
            "causeway.yaml:10:56: clusters[0].health_check.expected_statuses[1]: expected a "
            "status code such as 200 or a range such as \"200-299\", got '99'");
  EXPECT_EQ(one_error("{ http: /h, expected_statuses: [\"299-200\"] }"),
            "causeway.yaml:10:51: clusters[0].health_check.expected_statuses[0]: '299-200' is not "
            "a status code or range within 100-599 (low end first)");
  EXPECT_EQ(one_error("{ http: /h, expected_statuses: [700] }"),
            "causeway.yaml:10:51: clusters[0].health_check.expected_statuses[0]: '700' is not a "
            "status code or range within 100-599 (low end first)");
  EXPECT_EQ(one_error("{ http: /h, expected_statuses: [] }"),
            "causeway.yaml:10:50: clusters[0].health_check.expected_statuses: expected_statuses "
            "needs at least one code or range");
  EXPECT_EQ(one_error("{ http: /h, expected_statuses: 200 }"),
            "causeway.yaml:10:50: clusters[0].health_check.expected_statuses: expected a list of "
            "expected_statuses, got '200'");
  EXPECT_EQ(one_error("{ tcp: true, host: a.b }"),
            "causeway.yaml:10:32: clusters[0].health_check.host: 'host' is only used by an http "
            "check ('http: PATH')");
  EXPECT_EQ(one_error("{ http: /h, host: \"a b\" }"),
            "causeway.yaml:10:37: clusters[0].health_check.host: 'a b' is not a valid Host header "
            "value");
  EXPECT_EQ(one_error("{ http: /h, jitter: 60 }"),
            "causeway.yaml:10:39: clusters[0].health_check.jitter: jitter is at most 50 (percent "
            "of the interval), got 60");
  EXPECT_EQ(one_error("{ http: \"/a b\" }"),
            "causeway.yaml:10:27: clusters[0].health_check.http: http check path must be visible "
            "ASCII without spaces (percent-encode the rest), got '/a b'");
  EXPECT_EQ(one_error("{ http: /h, expect_statuses: [200] }"),
            "causeway.yaml:10:31: clusters[0].health_check: unknown key 'expect_statuses' (did you "
            "mean 'expected_statuses'?)");
}

}  // namespace
}  // namespace cw::config
