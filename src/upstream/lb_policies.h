// Private to the load balancers: one picker type per policy (held in LoadBalancer's variant) and
// the helpers they share. Thread contract: as LoadBalancer; hash tables are immutable once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "upstream/load_balancer.h"

namespace cw::upstream::lb {

// Bijective 64-bit finalizer (murmur3 fmix64 constants); spreads every input bit over the word.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Maps x uniformly onto [0, n) with a multiply instead of a divide (Lemire's reduction).
inline uint64_t fast_range(uint64_t x, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
}

// Seeded variant of hash_key(); hash_key(k) == hash_bytes(k, 0).
uint64_t hash_bytes(std::string_view data, uint64_t seed);

// xoshiro256** seeded through splitmix64: a few ns per draw, 256 bits of state, never allocates.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  uint64_t below(uint64_t n) { return fast_range(next(), n); }  // uniform in [0, n), n > 0

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

using Stats = HostStatsView;

// What every picker may read besides its own state.
struct Common {
  Common(std::vector<LbHost> h, uint64_t seed);

  std::vector<LbHost> hosts;
  std::vector<uint32_t> weights;  // hosts[i].weight, at least 1, contiguous for hot loops
  bool equal_weights = true;
  // Walker's alias table for O(1) weighted draws: a uniform slot i keeps i when a uniform
  // fraction is below alias_keep[i] (a 64-bit fixed-point probability), else takes alias_to[i].
  std::vector<uint64_t> alias_keep;
  std::vector<uint32_t> alias_to;
  Rng rng;
};

bool any_available(Stats stats);
// An available host other than `exclude` (-1: none excluded), drawn with probability
// weight / (sum of eligible weights), or uniformly; -1 when there is none. Rejection sampling
// first (O(1) expected when most hosts are up), then an exact O(n) draw, so the result is
// exactly proportional either way.
int draw_weighted(Common& c, Stats stats, int exclude);
int draw_uniform(Common& c, Stats stats, int exclude);

struct RoundRobin {
  size_t next = 0;  // index to try first
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

// nginx's smooth weighted round robin: each pick adds every available host's weight to its
// `current`, picks the largest, and takes the total back from it.
struct SmoothWeightedRoundRobin {
  std::vector<int64_t> current;
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

// Two weighted-random candidates; the lower active / weight wins, ties go to the first drawn.
struct LeastRequest {
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

// Two uniform candidates; the lower ewma_rtt * (active + 1) / weight wins.
struct PeakEwma {
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

struct WeightedRandom {
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

// Ketama-style ring: sorted 64-bit points, each owned by a host.
struct HashRing {
  std::vector<uint64_t> points;  // sorted
  std::vector<uint32_t> owners;  // owners[i] is the host index of points[i]
  static std::shared_ptr<const HashRing> build(const std::vector<LbHost>& hosts);
};

struct RingHash {
  std::shared_ptr<const HashRing> ring;
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

// Maglev lookup table: slot -> host index; its size is prime.
struct MaglevTable {
  static constexpr int kProbes = 8;  // rehashes tried before the linear walk
  std::vector<uint32_t> slots;
  static std::shared_ptr<const MaglevTable> build(const std::vector<LbHost>& hosts,
                                                  uint32_t table_size);
};

struct Maglev {
  std::shared_ptr<const MaglevTable> table;
  int pick(Common& c, const LbContext& ctx, Stats stats);
};

using Picker = std::variant<RoundRobin, SmoothWeightedRoundRobin, LeastRequest, PeakEwma,
                            WeightedRandom, RingHash, Maglev>;

}  // namespace cw::upstream::lb
