// Deadline headers: strict parsing, rounding, writing, and the arithmetic of shortening.
#include "resilience/deadline.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::resilience {
namespace {

TEST(Deadline, CausewayHeaderIsWholeMilliseconds) {
  EXPECT_EQ(parse_deadline_ms("250"), 250);
  EXPECT_EQ(parse_deadline_ms("0"), 0);
  EXPECT_EQ(parse_deadline_ms("9999999999"), kMaxDeadlineMs);
  for (const char* bad : {"", "-5", "1.5", "250ms", " 250", "12345678901", "0x10"})
    EXPECT_FALSE(parse_deadline_ms(bad)) << bad;
}

TEST(Deadline, GrpcTimeoutUnits) {
  EXPECT_EQ(parse_grpc_timeout_ms("100m"), 100);
  EXPECT_EQ(parse_grpc_timeout_ms("2S"), 2000);
  EXPECT_EQ(parse_grpc_timeout_ms("1M"), 60000);
  EXPECT_EQ(parse_grpc_timeout_ms("1H"), 3600000);
  EXPECT_EQ(parse_grpc_timeout_ms("1500u"), 2);  // rounded up
  EXPECT_EQ(parse_grpc_timeout_ms("1n"), 1);     // never zero by rounding
  EXPECT_EQ(parse_grpc_timeout_ms("0m"), 0);
  EXPECT_EQ(parse_grpc_timeout_ms("99999999H"), kMaxDeadlineMs);
  for (const char* bad : {"", "m", "100", "100x", "123456789m", "1.5S", "-1m", "10 m"})
    EXPECT_FALSE(parse_grpc_timeout_ms(bad)) << bad;
}

TEST(Deadline, GrpcTimeoutRoundTrips) {
  char buf[12];
  for (int64_t ms : {int64_t(0), int64_t(1), int64_t(250), int64_t(99'999'999), int64_t(100'000'000), kMaxDeadlineMs}) {
    const size_t n = format_grpc_timeout(ms, buf);
    auto back = parse_grpc_timeout_ms(std::string_view(buf, n));
    ASSERT_TRUE(back) << std::string(buf, n);
    EXPECT_GE(*back, ms);  // never shortened below what was meant ...
    EXPECT_LE(*back, ms + 1000);  // ... and at most rounded up to a second
  }
  EXPECT_EQ(std::string(buf, format_grpc_timeout(250, buf)), "250m");
  EXPECT_EQ(std::string(buf, format_grpc_timeout(-3, buf)), "0m");
}

TEST(Deadline, HeaderShortensNeverLengthens) {
  EXPECT_EQ(shorten_deadline(10'000, 1'000, std::nullopt), 10'000);
  EXPECT_EQ(shorten_deadline(10'000, 1'000, 500), 1'500);
  EXPECT_EQ(shorten_deadline(10'000, 1'000, 60'000), 10'000);
  EXPECT_EQ(shorten_deadline(10'000, 1'000, 0), 1'000);  // already due
}

TEST(Deadline, PerTryTimeoutWithinTheRequest) {
  EXPECT_EQ(try_deadline(10'000, 1'000, 0), 10'000);
  EXPECT_EQ(try_deadline(10'000, 1'000, 2'000), 3'000);
  EXPECT_EQ(try_deadline(10'000, 9'500, 2'000), 10'000);
}

}  // namespace
}  // namespace cw::resilience
