// ClusterLimits: a cluster's circuit-breaker limits (clusters[].circuit_breaker: max_connections,
// max_pending, max_requests, max_retries) as one worker enforces them. Workers share nothing on
// the request path, so a cluster-wide limit L is split into per-worker shares of ceil(L / N)
// for N workers: each worker checks its own counts against its share, with no atomic
// read-modify-write and no shared cache line. The cost (docs/resilience.md): the cluster as a
// whole admits at most N * ceil(L / N) (< L + N), and one worker can refuse while another has
// room when the kernel spreads clients unevenly. 0 means nothing is admitted.
// Thread contract: immutable once built; pure functions, any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/model.h"

namespace cw::resilience {

enum class Limit : uint8_t {
  kNone,
  kMaxConnections,  // upstream connections open to the cluster (busy and idle)
  kMaxPending,      // tries queued for a pooled connection
  kMaxRequests,     // tries in flight to the cluster (admitted, holding or opening a connection)
  kMaxRetries,      // retries in flight (admitted by the retry loop, backoff included)
  kCount,
};

// "max_connections", ...: the config key, as the overflow error and the metrics name it.
std::string_view limit_name(Limit l);

// This worker's share of a cluster-wide limit: ceil(limit / workers); workers < 1 counts as 1.
inline uint64_t worker_share(uint64_t limit, int workers) {
  if (workers <= 1) return limit;
  return (limit + uint64_t(workers) - 1) / uint64_t(workers);
}

class ClusterLimits {
 public:
  // The defaults of config::CircuitBreaker (a cluster without the key is still bounded).
  ClusterLimits() : ClusterLimits(config::CircuitBreaker{}, 1) {}
  ClusterLimits(const config::CircuitBreaker& b, int workers);

  // The configured cluster-wide value, and this worker's share of it.
  uint64_t configured(Limit l) const { return configured_[size_t(l)]; }
  uint64_t share(Limit l) const { return share_[size_t(l)]; }
  // One more admitted, with `in_use` already counted on this worker?
  bool admits(Limit l, int64_t in_use) const { return in_use < int64_t(share_[size_t(l)]); }

 private:
  uint64_t configured_[size_t(Limit::kCount)] = {};
  uint64_t share_[size_t(Limit::kCount)] = {};
};

}  // namespace cw::resilience
