// Consistent hashing: the key hash, the Ketama-style ring and the Maglev table (built off the hot
// path, when a snapshot is made) and their lookups. Thread contract: see load_balancer.h.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "upstream/lb_policies.h"

namespace cw::upstream {
namespace lb {
namespace {

constexpr uint64_t kP1 = 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio
constexpr uint64_t kP2 = 0xd6e8feb86659fd93ULL;
constexpr uint64_t kP3 = 0xa0761d6478bd642fULL;

constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Little-endian load of n <= 8 bytes, whatever the host byte order, so hashes are stable across
// machines. g++ folds the n == 8 case into one load.
uint64_t load_le(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// Ring sizing: the lightest host gets at least this many points, and the whole ring at least
// kMinRingPoints and about at most kMaxRingPoints.
constexpr double kMinPointsPerHost = 512;
constexpr double kMinRingPoints = 1024;
constexpr double kMaxRingPoints = 65536;

// Points per unit of weight: a power of two, so that a host joining or leaving rarely changes it
// (then the other hosts keep exactly their points and only the changed host's keys move).
double ring_points_per_weight(uint64_t total_weight, uint32_t min_weight) {
  const double want =
      std::max(kMinPointsPerHost / min_weight, kMinRingPoints / static_cast<double>(total_weight));
  double per_weight = std::exp2(std::ceil(std::log2(want)));
  while (per_weight * static_cast<double>(total_weight) > kMaxRingPoints && per_weight > 1e-12) {
    per_weight /= 2;
  }
  return per_weight;
}

bool is_prime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

uint64_t next_prime(uint64_t n) {
  while (!is_prime(n)) ++n;
  return n;
}

constexpr uint64_t kMaglevOffsetSeed = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr uint64_t kMaglevSkipSeed = 0x6d61676c65762d73ULL;    // "maglev-s"
constexpr uint32_t kEmptySlot = UINT32_MAX;

// After this many unavailable ring points, check once whether any host is up at all, so a fully
// down cluster costs O(hosts) per pick instead of a walk around the whole ring.
constexpr size_t kWalkBeforeCheck = 16;

}  // namespace

// An xxhash-style single-lane hash: each 8-byte word is scrambled (multiply, rotate, multiply)
// and folded into the state, which is finalized with mix64. Not cryptographic; keys that an
// attacker picks can collide, which only skews the spread.
uint64_t hash_bytes(std::string_view data, uint64_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint64_t h = seed ^ (kP3 * (n + 1));
  for (; n >= 8; p += 8, n -= 8) {
    h ^= rotl(load_le(p, 8) * kP2, 31) * kP1;
    h = rotl(h, 27) * kP1 + kP3;
  }
  if (n > 0) {
    h ^= rotl(load_le(p, n) * kP1, 29) * kP2;
    h = rotl(h, 23) * kP2 + kP1;
  }
  return mix64(h);
}

std::shared_ptr<const HashRing> HashRing::build(const std::vector<LbHost>& hosts) {
  auto ring = std::make_shared<HashRing>();
  if (hosts.empty()) return ring;
  uint64_t total_weight = 0;
  uint32_t min_weight = UINT32_MAX;
  for (const auto& h : hosts) {
    const uint32_t w = std::max<uint32_t>(h.weight, 1);
    total_weight += w;
    min_weight = std::min(min_weight, w);
  }
  const double per_weight = ring_points_per_weight(total_weight, min_weight);

  std::vector<std::pair<uint64_t, uint32_t>> points;
  points.reserve(static_cast<size_t>(per_weight * static_cast<double>(total_weight)) +
                 hosts.size());
  std::string name;
  for (uint32_t i = 0; i < hosts.size(); ++i) {
    const double w = std::max<uint32_t>(hosts[i].weight, 1);
    const auto count = std::max<uint64_t>(1, std::llround(w * per_weight));
    name.assign(hosts[i].key).push_back('#');
    const size_t prefix = name.size();
    for (uint64_t v = 0; v < count; ++v) {  // point v of host i: hash_key(key + "#" + v)
      char digits[24];
      const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
      name.resize(prefix);
      name.append(digits, end);
      points.emplace_back(hash_bytes(name, 0), i);
    }
  }
  std::sort(points.begin(), points.end());
  ring->points.reserve(points.size());
  ring->owners.reserve(points.size());
  for (const auto& [hash, owner] : points) {
    ring->points.push_back(hash);
    ring->owners.push_back(owner);
  }
  return ring;
}

int RingHash::pick(Common& c, const LbContext& ctx, Stats stats) {
  if (!ctx.has_hash) return draw_weighted(c, stats, -1);
  const size_t size = ring->points.size();
  if (size == 0) return -1;
  // The first point at or after the hash, clockwise; past the last point wraps to the first.
  size_t i =
      std::lower_bound(ring->points.begin(), ring->points.end(), ctx.hash) - ring->points.begin();
  if (i == size) i = 0;
  for (size_t step = 0; step < size; ++step) {
    const uint32_t owner = ring->owners[i];
    if (stats[owner].available) return static_cast<int>(owner);
    if (step == kWalkBeforeCheck && !any_available(stats)) return -1;
    if (++i == size) i = 0;
  }
  return -1;
}

// Maglev (Eisenbud et al., NSDI 2016), weighted: hosts take turns claiming the next free slot of
// their own permutation (offset + k * skip mod M); a host of weight w takes a turn in w / w_max
// of the rounds, so slot counts follow the weights. Hosts are visited in key order, so the table
// does not depend on the order discovery listed them in.
std::shared_ptr<const MaglevTable> MaglevTable::build(const std::vector<LbHost>& hosts,
                                                      uint32_t table_size) {
  auto table = std::make_shared<MaglevTable>();
  if (hosts.empty()) return table;
  const uint64_t m = next_prime(std::max<uint32_t>(table_size, 2));

  std::vector<uint32_t> order(hosts.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return hosts[a].key != hosts[b].key ? hosts[a].key < hosts[b].key : a < b;
  });
  struct Turn {
    uint32_t host;
    uint64_t weight;
    uint64_t pos;     // next slot in this host's permutation
    uint64_t skip;    // in [1, m - 1]; m is prime, so the permutation visits every slot
    uint64_t credit;  // weight accumulated towards the next turn
  };
  std::vector<Turn> turns;
  turns.reserve(order.size());
  uint64_t max_weight = 1;
  for (uint32_t i : order) {
    const uint64_t w = std::max<uint32_t>(hosts[i].weight, 1);
    max_weight = std::max(max_weight, w);
    turns.push_back(Turn{i, w, hash_bytes(hosts[i].key, kMaglevOffsetSeed) % m,
                         hash_bytes(hosts[i].key, kMaglevSkipSeed) % (m - 1) + 1, 0});
  }

  table->slots.assign(m, kEmptySlot);
  uint64_t filled = 0;
  while (filled < m) {
    for (Turn& t : turns) {
      t.credit += t.weight;
      if (t.credit < max_weight) continue;
      t.credit -= max_weight;
      while (table->slots[t.pos] != kEmptySlot) {
        t.pos += t.skip;
        if (t.pos >= m) t.pos -= m;
      }
      table->slots[t.pos] = t.host;
      if (++filled == m) break;
    }
  }
  return table;
}

// A slot whose host is unavailable: rehash the key up to kProbes times (each a fresh, uniform
// slot, so the displaced keys spread over the remaining hosts by weight), then walk the table
// from the last slot, then (only when no available host owns any slot) take the first available.
int Maglev::pick(Common& c, const LbContext& ctx, Stats stats) {
  if (!ctx.has_hash) return draw_weighted(c, stats, -1);
  const auto& slots = table->slots;
  const size_t m = slots.size();
  if (m == 0) return -1;
  uint64_t h = ctx.hash;
  size_t s = fast_range(h, m);
  if (stats[slots[s]].available) return static_cast<int>(slots[s]);
  for (int k = 0; k < MaglevTable::kProbes; ++k) {
    h = mix64(h + kP1);
    s = fast_range(h, m);
    if (stats[slots[s]].available) return static_cast<int>(slots[s]);
  }
  if (!any_available(stats)) return -1;
  for (size_t step = 0; step < m; ++step) {
    if (++s == m) s = 0;
    if (stats[slots[s]].available) return static_cast<int>(slots[s]);
  }
  for (size_t i = 0; i < stats.size(); ++i) {
    if (stats[i].available) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace lb

uint64_t hash_key(std::string_view key) { return lb::hash_bytes(key, 0); }

}  // namespace cw::upstream
