// Load balancers: pick a host of a cluster for one request. A closed set, held as a variant.
// Thread contract: one LoadBalancer per worker per cluster snapshot; only that worker calls it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/counter.h"

namespace cw::upstream {

enum class LbPolicy {
  kRoundRobin,
  kWeightedRoundRobin,  // smooth (nginx-style) weighted round robin
  kLeastRequest,        // power of two choices, weighted (active / weight)
  kPeakEwma,            // Linkerd-style latency-aware: P2C on ewma_rtt * (active + 1) / weight
  kRandom,              // weighted random
  kRingHash,            // Ketama-style consistent hash ring, weighted
  kMaglev,              // Maglev lookup table (prime size, 65537 by default)
};

// Parses "round_robin", "least_request", ...; false on an unknown name.
bool parse_lb_policy(std::string_view name, LbPolicy& out);
std::string_view lb_policy_name(LbPolicy p);

// Static description of one host, fixed for the life of a cluster snapshot.
struct LbHost {
  std::string key;      // stable identity, "127.0.0.1:9001"; hashed by ring_hash/maglev
  uint32_t weight = 1;  // >= 1
};

// Live, per-worker state of one host. The owning worker updates it; the balancer reads it.
struct HostStats {
  bool available = true;         // healthy and not ejected
  uint32_t active_requests = 0;  // requests in flight from this worker, when `active` is null
  double ewma_rtt_ns = 0;        // peak EWMA of response latency (0 = no sample yet)
  int64_t ewma_stamp_ns = 0;     // when ewma_rtt_ns was last updated
  // A worker points this at the host's in-flight gauge in its stats shard, which outlives
  // cluster generations, so requests started before a rebuild still count; read only by the
  // policies that weigh load (least_request, peak_ewma), never copied per pick.
  const Gauge* active = nullptr;

  uint32_t in_flight() const {
    if (!active) return active_requests;
    const int64_t n = active->get();
    return n > 0 ? static_cast<uint32_t>(n) : 0;
  }
};

// n HostStats laid out `stride` bytes apart: a plain array, or the HostStats member of each
// record of an array (a worker's per-host runtime), so the balancer reads live state where it is
// kept instead of a copy refreshed on every pick. 16 bytes, so it is passed in two registers (a
// 24-byte view went through the stack and cost a store-forwarding stall per pick).
class HostStatsView {
 public:
  HostStatsView(std::span<const HostStats> s)  // NOLINT(google-explicit-constructor): as a span
      : first_(reinterpret_cast<const std::byte*>(s.data())),
        size_(static_cast<uint32_t>(s.size())),
        stride_(sizeof(HostStats)) {}
  template <class Record>
  HostStatsView(const Record* records, size_t n, HostStats Record::*member)
      : first_(n ? reinterpret_cast<const std::byte*>(&(records->*member)) : nullptr),
        size_(static_cast<uint32_t>(n)),
        stride_(sizeof(Record)) {}

  size_t size() const { return size_; }
  const HostStats& operator[](size_t i) const {
    return *reinterpret_cast<const HostStats*>(first_ + i * stride_);
  }

 private:
  const std::byte* first_;
  uint32_t size_;    // clusters hold far fewer than 2^32 hosts
  uint32_t stride_;
};

// Feeds one observed latency into a host's peak EWMA (decay time constant 10s, as Linkerd).
void record_latency(HostStats& stats, int64_t rtt_ns, int64_t now_ns);

struct LbContext {
  bool has_hash = false;  // ring_hash / maglev: a hash key was found (source ip, header, cookie)
  uint64_t hash = 0;      // 64-bit hash of the key (use hash_key())
};

uint64_t hash_key(std::string_view key);  // stable 64-bit hash (e.g. xxhash-like / FNV-1a 64 mixed)

// Build-time knobs; the defaults suit clusters of up to a few hundred hosts.
struct LbOptions {
  static constexpr uint32_t kDefaultMaglevTableSize = 65537;
  // Maglev lookup-table size; rounded up to a prime. Keep it >= 100 x hosts for an even spread.
  uint32_t maglev_table_size = kDefaultMaglevTableSize;
};

// What a user of each policy should know:
// - least_request draws both candidates by weight and keeps the first on a tie of
//   active / weight, so shares follow the weights both idle and under load.
// - peak_ewma draws uniformly; a host with no sample yet borrows its rival's estimate and wins
//   ties, so a new host is compared on load alone (never starved, never flooded). Estimates move
//   only on responses (record_latency), not with time.
// - ring_hash: points per unit of weight are a power of two (>= 512 for the lightest host, ring
//   1024..~65536 points), so other hosts keep their points when one joins or leaves.
// - maglev: a key whose slot's host is down is rehashed up to 8 times, then walks the table
//   from there; hosts are placed in key order, so the table ignores the input order.
class LoadBalancer {
 public:
  LoadBalancer(LbPolicy policy, std::vector<LbHost> hosts, uint64_t seed);
  LoadBalancer(LbPolicy policy, std::vector<LbHost> hosts, uint64_t seed, const LbOptions& options);
  ~LoadBalancer();
  LoadBalancer(LoadBalancer&&) noexcept;
  LoadBalancer& operator=(LoadBalancer&&) noexcept;

  // Index of the chosen host, or -1 when no host is available. stats.size() == hosts().size().
  // Hash policies without a hash key fall back to random. A hash landing on an unavailable host
  // walks on to the next available one (ring order / maglev probe), so only that host's keys move.
  int pick(const LbContext& ctx, HostStatsView stats);
  int pick(const LbContext& ctx, std::span<const HostStats> stats) {
    return pick(ctx, HostStatsView(stats));
  }

  LbPolicy policy() const;
  const std::vector<LbHost>& hosts() const;

  // A balancer over the same hosts with fresh per-worker state (cursor, RNG seeded by `seed`).
  // The ring / Maglev table is immutable and shared, not rebuilt: build once per snapshot on the
  // control thread, clone once per worker. Only the clone's owner may call pick() on it.
  LoadBalancer clone(uint64_t seed) const;

 private:
  struct Impl;
  explicit LoadBalancer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cw::upstream
