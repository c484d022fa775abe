// Load balancers: policy names, the peak EWMA update, the non-hashing pickers and the plumbing
// that holds a picker in a variant. Thread contract: see load_balancer.h (one worker per object).
#include "upstream/load_balancer.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <utility>

#include "upstream/lb_policies.h"

namespace cw::upstream {
namespace {

constexpr std::array<std::pair<std::string_view, LbPolicy>, 7> kPolicyNames = {{
    {"round_robin", LbPolicy::kRoundRobin},
    {"weighted_round_robin", LbPolicy::kWeightedRoundRobin},
    {"least_request", LbPolicy::kLeastRequest},
    {"peak_ewma", LbPolicy::kPeakEwma},
    {"random", LbPolicy::kRandom},
    {"ring_hash", LbPolicy::kRingHash},
    {"maglev", LbPolicy::kMaglev},
}};

constexpr double kEwmaTauNs = 10e9;  // decay time constant, as Linkerd

}  // namespace

bool parse_lb_policy(std::string_view name, LbPolicy& out) {
  for (const auto& [n, p] : kPolicyNames) {
    if (n == name) {
      out = p;
      return true;
    }
  }
  return false;
}

std::string_view lb_policy_name(LbPolicy p) {
  for (const auto& [n, q] : kPolicyNames) {
    if (q == p) return n;
  }
  return "unknown";
}

void record_latency(HostStats& stats, int64_t rtt_ns, int64_t now_ns) {
  // A sample of 0 would read as "no sample yet"; 1 ns is as good as zero for every comparison.
  const double rtt = static_cast<double>(std::max<int64_t>(rtt_ns, 1));
  if (stats.ewma_rtt_ns <= 0 || rtt > stats.ewma_rtt_ns) {
    stats.ewma_rtt_ns = rtt;  // peak: a slow response is believed at once
  } else {
    const double elapsed = static_cast<double>(std::max<int64_t>(now_ns - stats.ewma_stamp_ns, 0));
    const double keep = std::exp(-elapsed / kEwmaTauNs);
    stats.ewma_rtt_ns = stats.ewma_rtt_ns * keep + rtt * (1.0 - keep);
  }
  stats.ewma_stamp_ns = now_ns;
}

namespace lb {

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) {  // splitmix64: any seed, even 0, gives a well-mixed non-zero state
    seed += 0x9e3779b97f4a7c15ULL;
    s = mix64(seed);
  }
}

Common::Common(std::vector<LbHost> h, uint64_t seed) : hosts(std::move(h)), rng(seed) {
  const size_t n = hosts.size();
  weights.reserve(n);
  uint64_t sum = 0;
  for (const auto& host : hosts) {
    const uint32_t w = std::max<uint32_t>(host.weight, 1);
    if (!weights.empty() && w != weights.front()) equal_weights = false;
    weights.push_back(w);
    sum += w;
  }
  if (equal_weights) return;
  // Vose's construction: pair each under-full slot with an over-full one that tops it up.
  alias_keep.assign(n, UINT64_MAX);
  alias_to.resize(n);
  std::vector<double> scaled(n);
  std::vector<uint32_t> small, large;
  for (uint32_t i = 0; i < n; ++i) {
    alias_to[i] = i;
    scaled[i] = static_cast<double>(weights[i]) * static_cast<double>(n) / static_cast<double>(sum);
    (scaled[i] < 1.0 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back(), l = large.back();
    small.pop_back();
    alias_keep[s] = static_cast<uint64_t>(scaled[s] * 0x1p64);
    alias_to[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are full up to rounding: they keep their slot always (alias_to[i] == i).
}

bool any_available(Stats stats) {
  for (size_t i = 0; i < stats.size(); ++i) {
    if (stats[i].available) return true;
  }
  return false;
}

namespace {

// Draws that hit an unavailable or excluded host before the exact O(n) draw takes over.
constexpr int kRejectionTries = 4;

bool eligible(Stats stats, size_t i, int exclude) {
  return stats[i].available && static_cast<int>(i) != exclude;
}

}  // namespace

int draw_weighted(Common& c, Stats stats, int exclude) {
  const size_t n = stats.size();
  if (n == 0) return -1;
  if (c.equal_weights) return draw_uniform(c, stats, exclude);
  for (int t = 0; t < kRejectionTries; ++t) {
    // One draw gives both the slot (high word of r * n) and a uniform fraction (low word).
    const unsigned __int128 product = static_cast<unsigned __int128>(c.rng.next()) * n;
    const size_t slot = static_cast<size_t>(product >> 64);
    const size_t i = static_cast<uint64_t>(product) < c.alias_keep[slot] ? slot : c.alias_to[slot];
    if (eligible(stats, i, exclude)) return static_cast<int>(i);
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    if (eligible(stats, i, exclude)) sum += c.weights[i];
  }
  if (sum == 0) return -1;
  uint64_t r = c.rng.below(sum);
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(stats, i, exclude)) continue;
    if (r < c.weights[i]) return static_cast<int>(i);
    r -= c.weights[i];
  }
  return -1;  // unreachable
}

int draw_uniform(Common& c, Stats stats, int exclude) {
  const size_t n = stats.size();
  if (n == 0) return -1;
  for (int t = 0; t < kRejectionTries; ++t) {
    const size_t i = c.rng.below(n);
    if (eligible(stats, i, exclude)) return static_cast<int>(i);
  }
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) count += eligible(stats, i, exclude);
  if (count == 0) return -1;
  size_t r = c.rng.below(count);
  for (size_t i = 0; i < n; ++i) {
    if (eligible(stats, i, exclude) && r-- == 0) return static_cast<int>(i);
  }
  return -1;  // unreachable
}

int RoundRobin::pick(Common&, const LbContext&, Stats stats) {
  const size_t n = stats.size();
  for (size_t k = 0; k < n; ++k) {
    size_t i = next + k;
    if (i >= n) i -= n;
    if (stats[i].available) {
      next = i + 1 == n ? 0 : i + 1;
      return static_cast<int>(i);
    }
  }
  return -1;
}

int SmoothWeightedRoundRobin::pick(Common& c, const LbContext&, Stats stats) {
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < stats.size(); ++i) {
    if (!stats[i].available) {
      current[i] = 0;  // rejoins with a clean slate instead of a stale credit
      continue;
    }
    current[i] += c.weights[i];
    total += c.weights[i];
    if (best < 0 || current[i] > current[best]) best = static_cast<int>(i);
  }
  if (best >= 0) current[best] -= total;
  return best;
}

int LeastRequest::pick(Common& c, const LbContext&, Stats stats) {
  const int a = draw_weighted(c, stats, -1);
  if (a < 0) return -1;
  const int b = draw_weighted(c, stats, a);
  if (b < 0) return a;
  // active_b / w_b < active_a / w_a, cross-multiplied to stay in integers.
  const uint64_t load_a = uint64_t{stats[a].in_flight()} * c.weights[b];
  const uint64_t load_b = uint64_t{stats[b].in_flight()} * c.weights[a];
  return load_b < load_a ? b : a;
}

int PeakEwma::pick(Common& c, const LbContext&, Stats stats) {
  const int a = draw_uniform(c, stats, -1);
  if (a < 0) return -1;
  const int b = draw_uniform(c, stats, a);
  if (b < 0) return a;
  // Cold start: a host without a sample borrows its rival's estimate and wins ties, so it is
  // compared on load alone: it gets its first requests at once (a large default estimate would
  // starve it in a fast cluster) yet is not flooded (its own in-flight count still counts).
  const double rtt_a = stats[a].ewma_rtt_ns;
  const double rtt_b = stats[b].ewma_rtt_ns;
  const double load_a = (stats[a].in_flight() + 1.0) / c.weights[a];
  const double load_b = (stats[b].in_flight() + 1.0) / c.weights[b];
  if (rtt_a > 0 && rtt_b > 0) return rtt_b * load_b < rtt_a * load_a ? b : a;
  if (rtt_a > 0) return load_b <= load_a ? b : a;  // b is cold
  if (rtt_b > 0) return load_a <= load_b ? a : b;  // a is cold
  return load_b < load_a ? b : a;                  // both cold
}

int WeightedRandom::pick(Common& c, const LbContext&, Stats stats) {
  return draw_weighted(c, stats, -1);
}

}  // namespace lb

struct LoadBalancer::Impl {
  Impl(LbPolicy p, lb::Common c, lb::Picker k)
      : policy(p), common(std::move(c)), picker(std::move(k)) {}
  LbPolicy policy;
  lb::Common common;
  lb::Picker picker;
};

namespace {

lb::Picker make_picker(LbPolicy policy, const lb::Common& c, uint64_t seed,
                       const LbOptions& options) {
  switch (policy) {
    case LbPolicy::kRoundRobin:
      // Workers start at different hosts so a fresh snapshot does not send each one to host 0.
      return lb::RoundRobin{c.hosts.empty() ? 0 : lb::mix64(seed) % c.hosts.size()};
    case LbPolicy::kWeightedRoundRobin:
      return lb::SmoothWeightedRoundRobin{std::vector<int64_t>(c.hosts.size(), 0)};
    case LbPolicy::kLeastRequest:
      return lb::LeastRequest{};
    case LbPolicy::kPeakEwma:
      return lb::PeakEwma{};
    case LbPolicy::kRandom:
      return lb::WeightedRandom{};
    case LbPolicy::kRingHash:
      return lb::RingHash{lb::HashRing::build(c.hosts)};
    case LbPolicy::kMaglev:
      return lb::Maglev{lb::MaglevTable::build(c.hosts, options.maglev_table_size)};
  }
  return lb::WeightedRandom{};
}

}  // namespace

LoadBalancer::LoadBalancer(LbPolicy policy, std::vector<LbHost> hosts, uint64_t seed)
    : LoadBalancer(policy, std::move(hosts), seed, LbOptions{}) {}

LoadBalancer::LoadBalancer(LbPolicy policy, std::vector<LbHost> hosts, uint64_t seed,
                           const LbOptions& options) {
  lb::Common common(std::move(hosts), seed);
  lb::Picker picker = make_picker(policy, common, seed, options);
  impl_ = std::make_unique<Impl>(policy, std::move(common), std::move(picker));
}

LoadBalancer::LoadBalancer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LoadBalancer::~LoadBalancer() = default;
LoadBalancer::LoadBalancer(LoadBalancer&&) noexcept = default;
LoadBalancer& LoadBalancer::operator=(LoadBalancer&&) noexcept = default;

LoadBalancer LoadBalancer::clone(uint64_t seed) const {
  lb::Common common(impl_->common.hosts, seed);
  lb::Picker picker;
  if (const auto* ring = std::get_if<lb::RingHash>(&impl_->picker)) {
    picker = *ring;  // shares the immutable ring
  } else if (const auto* maglev = std::get_if<lb::Maglev>(&impl_->picker)) {
    picker = *maglev;  // shares the immutable table
  } else {
    picker = make_picker(impl_->policy, common, seed, LbOptions{});
  }
  return LoadBalancer(std::make_unique<Impl>(impl_->policy, std::move(common), std::move(picker)));
}

int LoadBalancer::pick(const LbContext& ctx, HostStatsView stats) {
  if (stats.size() != impl_->common.hosts.size()) {
    assert(false && "stats must have one entry per host");
    return -1;
  }
  return std::visit([&](auto& p) { return p.pick(impl_->common, ctx, stats); }, impl_->picker);
}

LbPolicy LoadBalancer::policy() const { return impl_->policy; }
const std::vector<LbHost>& LoadBalancer::hosts() const { return impl_->common.hosts; }

}  // namespace cw::upstream
