// routes[].fault beyond what carried_test checks: delay distributions, throttle, and the errors
// of the new forms, with file:line:col.
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using K = LatencyDist::Kind;
using test::kListener;
using test::kWeb;

std::string with_fault(const std::string& fault) {
  return kListener + "        fault: " + fault + "\n" + kWeb;
}

// The single error of loading `yaml`, formatted ("" when it loads).
std::string one_error(const std::string& yaml) {
  LoadResult r = load_config_string(yaml, "causeway.yaml");
  EXPECT_LE(r.errors.size(), 1u) << test::dump(r);
  return r.errors.empty() ? "" : r.errors[0].format();
}

TEST(FaultConfig, DelayTakesEachLatencyForm) {
  const std::pair<const char*, LatencyDist> cases[] = {
      {"20ms", {K::kFixed, 20, 0}},
      {"10ms-50ms", {K::kUniform, 10, 50}},
      {"exp:20ms", {K::kExponential, 20, 0}},
  };
  for (const auto& [text, want] : cases) {
    auto c = test::load_ok(
        with_fault(std::string("{ delay: { percent: 10, duration: ") + text + " } }"));
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->listeners[0].routes[0].fault->delay->duration, want) << text;
  }
}

TEST(FaultConfig, ThrottleTakesASize) {
  auto c = test::load_ok(with_fault("{ throttle: { percent: 50, bytes_per_second: 64KiB } }"));
  ASSERT_TRUE(c);
  const Fault& f = *c->listeners[0].routes[0].fault;
  ASSERT_TRUE(f.throttle);
  EXPECT_EQ(f.throttle->percent, 50.0);
  EXPECT_EQ(f.throttle->bytes_per_second, 64u * 1024);
  EXPECT_FALSE(f.delay);
  EXPECT_TRUE(c->unapplied_keys.empty());
}

TEST(FaultConfig, Errors) {
  EXPECT_EQ(one_error(with_fault("{ delay: { percent: 1, duration: 50ms-10ms } }")),
            "causeway.yaml:7:49: listeners[0].routes[0].fault.delay.duration: expected a duration "
            "such as 200ms or a distribution such as 10ms-50ms or exp:20ms (each at most 10m), "
            "got '50ms-10ms'");
  EXPECT_EQ(one_error(with_fault("{ delay: { percent: 1, duration: 11m } }")),
            "causeway.yaml:7:49: listeners[0].routes[0].fault.delay.duration: delay '11m' is "
            "above the 10m limit");
  EXPECT_EQ(one_error(with_fault("{ throttle: { percent: 1 } }")),
            "causeway.yaml:7:28: listeners[0].routes[0].fault.throttle.bytes_per_second: missing "
            "required key 'bytes_per_second'");
  EXPECT_EQ(one_error(with_fault("{ throttle: { percent: 1, bytes_per_second: 0 } }")),
            "causeway.yaml:7:60: listeners[0].routes[0].fault.throttle.bytes_per_second: size 0 "
            "is out of range (expected 1 to 1099511627776 bytes)");
  EXPECT_EQ(one_error("listeners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes:\n"
                      "      - match: { path_prefix: / }\n"
                      "        direct_response: { status: 200 }\n"
                      "        fault: { reset: { percent: 1 } }\n"),
            "causeway.yaml:7:9: listeners[0].routes[0].fault: fault applies to routes that "
            "forward to a cluster, not to 'direct_response'");
  EXPECT_EQ(one_error(with_fault("{ thrtotle: { percent: 1 } }")),
            "causeway.yaml:7:18: listeners[0].routes[0].fault: unknown key 'thrtotle' (did you "
            "mean 'throttle'?)");
}

}  // namespace
}  // namespace cw::config
