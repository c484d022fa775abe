// Helpers shared by the load balancer tests: host sets, picks counted per host, spread against
// the weights. Thread contract: single-threaded tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "upstream/load_balancer.h"

namespace cw::upstream::lbtest {

inline constexpr LbPolicy kAllPolicies[] = {
    LbPolicy::kRoundRobin,   LbPolicy::kWeightedRoundRobin,
    LbPolicy::kLeastRequest, LbPolicy::kPeakEwma,
    LbPolicy::kRandom,       LbPolicy::kRingHash,
    LbPolicy::kMaglev,
};

inline std::string host_key(int i) { return "10.0.0." + std::to_string(i) + ":8080"; }

inline std::vector<LbHost> make_hosts(const std::vector<uint32_t>& weights, int first_id = 0) {
  std::vector<LbHost> hosts;
  for (size_t i = 0; i < weights.size(); ++i) {
    hosts.push_back(LbHost{host_key(first_id + static_cast<int>(i)), weights[i]});
  }
  return hosts;
}

inline LbContext hashed(uint64_t i) { return LbContext{true, hash_key("client-" + std::to_string(i))}; }

// Picks n times and counts per host; -1 fails the test.
inline std::vector<int> count_picks(LoadBalancer& lb, const std::vector<HostStats>& stats, int n,
                             bool hash = false) {
  std::vector<int> counts(stats.size(), 0);
  for (int i = 0; i < n; ++i) {
    const int h = lb.pick(hash ? hashed(i) : LbContext{}, stats);
    EXPECT_GE(h, 0);
    if (h < 0) break;
    ++counts[h];
  }
  return counts;
}

// Largest |observed / expected - 1| over hosts, where expected follows the weights.
inline double max_relative_error(const std::vector<int>& counts, const std::vector<uint32_t>& weights) {
  double total = 0, weight_sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    total += counts[i];
    weight_sum += weights[i];
  }
  double worst = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double expected = total * weights[i] / weight_sum;
    worst = std::max(worst, std::abs(counts[i] / expected - 1));
  }
  return worst;
}

inline void report(const char* what, double value) { std::printf("[ spread   ] %s: %.4f\n", what, value); }

}  // namespace cw::upstream::lbtest
