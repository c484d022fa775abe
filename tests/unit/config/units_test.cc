#include "config/units.h"

#include <gtest/gtest.h>

namespace cw::config {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("3s"), milliseconds(3000));
  EXPECT_EQ(parse_duration("1m"), milliseconds(60'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("2000us"), milliseconds(2));
  EXPECT_EQ(parse_duration("1ms"), milliseconds(1));
}

TEST(ParseDuration, AcceptsFractionsAndCompoundValues) {
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("0.25s"), milliseconds(250));
  EXPECT_EQ(parse_duration(".5s"), milliseconds(500));
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(parse_duration("1h1m1s1ms"), milliseconds(3'661'001));
}

TEST(ParseDuration, ZeroIsZero) {
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("0ms"), milliseconds(0));
}

TEST(ParseDuration, RefusesBelowAMillisecondAndPartialMilliseconds) {
  EXPECT_EQ(parse_duration("500us"), std::nullopt);
  EXPECT_EQ(parse_duration("1500us"), std::nullopt);
  EXPECT_EQ(parse_duration("0.5ms"), std::nullopt);
  EXPECT_EQ(parse_duration("1.0001s"), std::nullopt);
}

TEST(ParseDuration, RefusesNumbersWithoutUnitsAndJunk) {
  for (const char* bad : {"", "3", "250", "s", "ms", "3 s", " 3s", "3s ", "-3s", "+3s", "3sec",
                          "3S", "1.s", "3d", "1e3ms", "3s3", "..5s", "1.2.3s"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << bad;
  }
}

TEST(ParseDuration, RefusesHugeValuesWithoutOverflow) {
  EXPECT_EQ(parse_duration("99999999999999999999999h"), std::nullopt);
  EXPECT_EQ(parse_duration("25000h"), std::nullopt);  // > 1000 days
  EXPECT_EQ(parse_duration("24000h"), milliseconds(24000LL * 3600 * 1000));
}

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size("1MiB"), 1024u * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
  EXPECT_EQ(parse_size("2TiB"), 2ull << 40);
  EXPECT_EQ(parse_size("10KB"), 10'000u);
  EXPECT_EQ(parse_size("10kB"), 10'000u);
  EXPECT_EQ(parse_size("3MB"), 3'000'000u);
  EXPECT_EQ(parse_size("1GB"), 1'000'000'000u);
  EXPECT_EQ(parse_size("64kib"), 64u * 1024);
  EXPECT_EQ(parse_size("0"), 0u);
}

TEST(ParseSize, RefusesAmbiguousOrMalformedSizes) {
  for (const char* bad :
       {"", "k", "64k", "64K", "1M", "1.5MiB", "-1", " 1", "1 KiB", "KiB", "1KiBs", "0x10"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

TEST(ParseSize, RefusesOverflow) {
  EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615ull);
  EXPECT_EQ(parse_size("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_size("17179869184GiB"), std::nullopt);  // 2^34 * 2^30 = 2^64
}

}  // namespace
}  // namespace cw::config
