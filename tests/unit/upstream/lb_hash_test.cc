// Consistent-hash policies (ring_hash, maglev): spread, stability when hosts come and go,
// weights, clones sharing the table. Thread contract: single-threaded tests; deterministic keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lb_test_util.h"
#include "upstream/load_balancer.h"

namespace cw::upstream {
namespace {

using namespace lbtest;

// Host (by key) of each of `keys` hashed requests.
std::vector<std::string> owners(LoadBalancer& lb, const std::vector<HostStats>& stats, int keys) {
  std::vector<std::string> out;
  out.reserve(keys);
  for (int i = 0; i < keys; ++i) {
    const int h = lb.pick(hashed(i), stats);
    out.push_back(h < 0 ? "" : lb.hosts()[h].key);
  }
  return out;
}

double moved_fraction(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  int moved = 0;
  for (size_t i = 0; i < a.size(); ++i) moved += a[i] != b[i];
  return static_cast<double>(moved) / a.size();
}

struct HashCase {
  LbPolicy policy;
  double equal_spread;     // max relative error, 5 equal hosts
  double weighted_spread;  // max relative error, weights 1,2,3,4
  double removal_kept;     // share of keys of surviving hosts that keep their host
};

class HashPolicy : public testing::TestWithParam<HashCase> {};

TEST_P(HashPolicy, EqualHostsSpreadEvenly) {
  const auto& c = GetParam();
  LoadBalancer lb(c.policy, make_hosts({1, 1, 1, 1, 1}), 0);
  std::vector<HostStats> stats(5);
  const double err = max_relative_error(count_picks(lb, stats, 100000, true), {1, 1, 1, 1, 1});
  report((std::string(lb_policy_name(c.policy)) + " 5 equal hosts").c_str(), err);
  EXPECT_LT(err, c.equal_spread);
}

TEST_P(HashPolicy, WeightsHonoured) {
  const auto& c = GetParam();
  const std::vector<uint32_t> weights = {1, 2, 3, 4};
  LoadBalancer lb(c.policy, make_hosts(weights), 0);
  std::vector<HostStats> stats(4);
  const double err = max_relative_error(count_picks(lb, stats, 100000, true), weights);
  report((std::string(lb_policy_name(c.policy)) + " weights 1:2:3:4").c_str(), err);
  EXPECT_LT(err, c.weighted_spread);
}

TEST_P(HashPolicy, SameKeySameHost) {
  LoadBalancer a(GetParam().policy, make_hosts({1, 1, 1, 1, 1}), 1);
  LoadBalancer b(GetParam().policy, make_hosts({1, 1, 1, 1, 1}), 2);  // seed does not matter
  std::vector<HostStats> stats(5);
  EXPECT_EQ(owners(a, stats, 10000), owners(b, stats, 10000));
  EXPECT_EQ(owners(a, stats, 10000), owners(a, stats, 10000));
}

TEST_P(HashPolicy, HostOrderDoesNotMatter) {
  auto hosts = make_hosts({1, 2, 1, 3, 1});
  LoadBalancer a(GetParam().policy, hosts, 0);
  std::reverse(hosts.begin(), hosts.end());
  LoadBalancer b(GetParam().policy, hosts, 0);
  std::vector<HostStats> stats(5);
  EXPECT_EQ(owners(a, stats, 20000), owners(b, stats, 20000));
}

TEST_P(HashPolicy, AddingASixthHostMovesAboutASixth) {
  LoadBalancer five(GetParam().policy, make_hosts({1, 1, 1, 1, 1}), 0);
  LoadBalancer six(GetParam().policy, make_hosts({1, 1, 1, 1, 1, 1}), 0);
  std::vector<HostStats> s5(5), s6(6);
  const auto before = owners(five, s5, 100000);
  const auto after = owners(six, s6, 100000);
  const double moved = moved_fraction(before, after);
  report((std::string(lb_policy_name(GetParam().policy)) + " moved on 5 -> 6").c_str(), moved);
  EXPECT_GT(moved, 0.10);
  EXPECT_LT(moved, 0.25);
  int moved_elsewhere = 0;  // keys that moved but not to the new host
  for (size_t i = 0; i < before.size(); ++i) {
    moved_elsewhere += before[i] != after[i] && after[i] != host_key(5);
  }
  report((std::string(lb_policy_name(GetParam().policy)) + " moved between old hosts").c_str(),
         moved_elsewhere / 100000.0);
  EXPECT_LT(moved_elsewhere / 100000.0, 1 - GetParam().removal_kept + 1e-9);
}

TEST_P(HashPolicy, UnavailableHostMovesOnlyItsKeys) {
  LoadBalancer lb(GetParam().policy, make_hosts({1, 1, 1, 1, 1}), 0);
  std::vector<HostStats> stats(5);
  const auto before = owners(lb, stats, 100000);
  stats[2].available = false;
  const auto after = owners(lb, stats, 100000);
  std::vector<int> took(5, 0);
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == host_key(2)) {
      ASSERT_NE(after[i], host_key(2));
      for (int h = 0; h < 5; ++h) took[h] += after[i] == host_key(h);
    } else {
      ASSERT_EQ(before[i], after[i]) << "key " << i << " left a healthy host";
    }
  }
  // The displaced keys spread over all the others rather than piling onto one neighbour.
  for (int h : {0, 1, 3, 4}) EXPECT_GT(took[h], 0) << "host " << h;
}

TEST_P(HashPolicy, RemovingAHostMovesOnlyItsKeys) {
  LoadBalancer five(GetParam().policy, make_hosts({1, 1, 1, 1, 1}), 0);
  auto hosts = make_hosts({1, 1, 1, 1, 1});
  hosts.erase(hosts.begin() + 2);
  LoadBalancer four(GetParam().policy, hosts, 0);
  std::vector<HostStats> s5(5), s4(4);
  const auto before = owners(five, s5, 100000);
  const auto after = owners(four, s4, 100000);
  int survivors = 0, kept = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == host_key(2)) continue;
    ++survivors;
    kept += before[i] == after[i];
  }
  const double kept_share = static_cast<double>(kept) / survivors;
  report((std::string(lb_policy_name(GetParam().policy)) + " kept on 5 -> 4").c_str(), kept_share);
  EXPECT_GE(kept_share, GetParam().removal_kept);
}

TEST_P(HashPolicy, NoHashFallsBackToWeightedRandom) {
  const std::vector<uint32_t> weights = {1, 2, 5};
  LoadBalancer lb(GetParam().policy, make_hosts(weights), 0);
  std::vector<HostStats> stats(3);
  EXPECT_LT(max_relative_error(count_picks(lb, stats, 100000, false), weights), 0.03);
}

TEST_P(HashPolicy, CloneSharesTheTable) {
  LoadBalancer lb(GetParam().policy, make_hosts({1, 2, 3, 1, 1}), 0);
  LoadBalancer copy = lb.clone(99);
  std::vector<HostStats> stats(5);
  stats[1].available = false;
  EXPECT_EQ(owners(lb, stats, 10000), owners(copy, stats, 10000));
}

INSTANTIATE_TEST_SUITE_P(All, HashPolicy,
                         testing::Values(HashCase{LbPolicy::kRingHash, 0.10, 0.10, 1.0},
                                         HashCase{LbPolicy::kMaglev, 0.05, 0.05, 0.95}),
                         [](const testing::TestParamInfo<HashCase>& info) {
                           return std::string(lb_policy_name(info.param.policy));
                         });

TEST(Maglev, ConfigurableTableSize) {
  LbOptions options;
  options.maglev_table_size = 5000;  // not prime: rounded up to 5003
  LoadBalancer lb(LbPolicy::kMaglev, make_hosts({1, 1, 1, 1, 1}), 0, options);
  std::vector<HostStats> stats(5);
  const double err = max_relative_error(count_picks(lb, stats, 100000, true), {1, 1, 1, 1, 1});
  report("maglev M=5003 5 equal hosts", err);
  EXPECT_LT(err, 0.05);
}

TEST(Maglev, MostHostsDownStillFindsTheSurvivor) {
  // Nine of ten down: probes mostly miss, the walk must still land on the one survivor.
  LoadBalancer lb(LbPolicy::kMaglev, make_hosts(std::vector<uint32_t>(10, 1)), 0);
  std::vector<HostStats> stats(10);
  for (auto& s : stats) s.available = false;
  stats[7].available = true;
  EXPECT_EQ(count_picks(lb, stats, 10000, true)[7], 10000);
}

}  // namespace
}  // namespace cw::upstream
