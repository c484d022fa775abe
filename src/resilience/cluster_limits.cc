// Cluster limits split into per-worker shares. Thread contract: see cluster_limits.h.
#include "resilience/cluster_limits.h"

namespace cw::resilience {

std::string_view limit_name(Limit l) {
  switch (l) {
    case Limit::kMaxConnections:
      return "max_connections";
    case Limit::kMaxPending:
      return "max_pending";
    case Limit::kMaxRequests:
      return "max_requests";
    case Limit::kMaxRetries:
      return "max_retries";
    case Limit::kNone:
    case Limit::kCount:
      break;
  }
  return "none";
}

ClusterLimits::ClusterLimits(const config::CircuitBreaker& b, int workers) {
  configured_[size_t(Limit::kMaxConnections)] = b.max_connections;
  configured_[size_t(Limit::kMaxPending)] = b.max_pending;
  configured_[size_t(Limit::kMaxRequests)] = b.max_requests;
  configured_[size_t(Limit::kMaxRetries)] = b.max_retries;
  for (size_t i = 1; i < size_t(Limit::kCount); ++i)
    share_[i] = worker_share(configured_[i], workers);
}

}  // namespace cw::resilience
