// SplitMix64 and random_hex (base/random.h), the proxy's ids and echo's fault draws.
#include "base/random.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace cw {
namespace {

TEST(SplitMix64, MatchesTheReferenceSequence) {
  // Reference outputs of splitmix64 (Vigna) from seed 0.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(rng.next(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(rng.next(), 0x06c45d188009454fULL);
}

TEST(SplitMix64, SameSeedSameSequence) {
  SplitMix64 a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    EXPECT_NE(x, c.next());
  }
}

TEST(SplitMix64, UniformIsInTheHalfOpenUnitInterval) {
  SplitMix64 rng(7);
  double lo = 1, hi = 0;
  for (int i = 0; i < 10'000; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  EXPECT_LT(lo, 0.01);
  EXPECT_GT(hi, 0.99);
}

TEST(RandomHex, FillsExactlyNLowercaseHexDigits) {
  SplitMix64 rng(1);
  for (size_t n : {0u, 1u, 15u, 16u, 17u, 32u, 48u}) {
    std::string out(n + 2, '#');
    random_hex(rng, out.data() + 1, n);
    EXPECT_EQ(out.front(), '#');
    EXPECT_EQ(out.back(), '#');
    for (size_t i = 1; i <= n; ++i) {
      const char c = out[i];
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << "n=" << n << " i=" << i;
    }
  }
}

TEST(RandomHex, IdsDiffer) {
  SplitMix64 rng(9);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    std::string id(32, ' ');
    random_hex(rng, id.data(), id.size());
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace cw

namespace cw {
namespace {

// The digits are the generator's nibbles, low first: ids keep their format and distribution
// whatever the implementation does for speed.
TEST(RandomHex, DigitsAreTheNibblesLowFirst) {
  for (size_t n : {1u, 15u, 16u, 17u, 32u, 36u, 48u}) {
    SplitMix64 a(42), b(42);
    std::string got(n, '?');
    random_hex(a, got.data(), n);
    std::string want;
    for (size_t i = 0; i < n; i += 16) {
      const uint64_t r = b.next();
      for (size_t k = 0; k < 16 && i + k < n; ++k) want += "0123456789abcdef"[(r >> (4 * k)) & 15];
    }
    EXPECT_EQ(got, want) << n;
  }
}

}  // namespace
}  // namespace cw
