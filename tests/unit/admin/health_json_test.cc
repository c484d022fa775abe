// A checked host's "check" object in /api/v1/clusters, before and after checks.
#include <gtest/gtest.h>

#include "admin/api.h"

namespace cw::admin {
namespace {

TEST(HealthJson, UncheckedHostHasNoLastResult) {
  health::HostHealth h;
  const Json j = host_check_json(h);
  EXPECT_EQ(j["state"], "unchecked");
  EXPECT_TRUE(j["last"].is_null());
  EXPECT_EQ(j["consecutive_failures"], 0);
}

TEST(HealthJson, FailedChecksShowTheErrorAndCounts) {
  health::HostHealth h;
  h.state.record(true, 10);
  h.state.record(false, 20);
  h.successes_total = 1;
  h.failures_total = 1;
  h.last.ok = false;
  h.last.status = 503;
  h.last.error = "status 503";
  h.last.duration_ms = 3;
  h.last_at_unix_ms = 1'700'000'000'000;
  const Json j = host_check_json(h);
  EXPECT_EQ(j["state"], "healthy");  // one failure of three
  EXPECT_EQ(j["consecutive_failures"], 1);
  EXPECT_EQ(j["consecutive_successes"], 0);
  EXPECT_EQ(j["checks_passed"], 1);
  EXPECT_EQ(j["checks_failed"], 1);
  EXPECT_EQ(j["last"]["result"], "failure");
  EXPECT_EQ(j["last"]["status"], 503);
  EXPECT_EQ(j["last"]["error"], "status 503");
  EXPECT_EQ(j["last"]["at_unix_ms"], 1'700'000'000'000);
}

TEST(HealthJson, ConnectFailureHasNoStatus) {
  health::HostHealth h;
  h.state.record(false, 10);
  h.last.error = "connect: Connection refused";
  const Json j = host_check_json(h);
  EXPECT_EQ(j["state"], "unhealthy");
  EXPECT_TRUE(j["last"]["status"].is_null());
}

}  // namespace
}  // namespace cw::admin
