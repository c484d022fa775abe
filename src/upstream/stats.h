// Upstream stats kept in a worker's shard, keyed by cluster and host name so they outlive the
// snapshots (reloads) that point at them. Thread contract: written by the owning worker only,
// read by the admin thread (see base/counter.h).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/counter.h"
#include "resilience/cluster_limits.h"

namespace cw::upstream {

struct HostCounters {
  Gauge active_requests;
  Gauge pending;  // tries queued for a connection to this host (the pool is full)
  Counter requests;
  Counter failures;  // connect failures, resets, timeouts
  Histogram latency;
  Gauge ewma_us;  // the balancer's peak-EWMA response latency on this worker (µs; 0 = none)
  // Outlier detection and the per-host breaker, as this worker sees them (each worker judges
  // its own traffic; the admin thread sums or takes the max over workers).
  Gauge ejected;                 // 1 while this worker has the host ejected
  Gauge ejected_until_wall_ms;   // wall-clock end of that ejection, 0 when not ejected
  Gauge times_ejected;           // the back-off multiplier
  Gauge breaker_state;           // resilience::BreakerState: 0 closed, 1 open, 2 half_open
  Counter ejections[4];          // by resilience::EjectReason (index 0 unused)
  Counter breaker_opens;
};

// Why a try was retried (metrics label `cause`).
enum class RetryCause : uint8_t { kConnectFailure, kReset, kTimeout, kBadResponse, kStatus, kCount };
inline constexpr const char* kRetryCauseNames[] = {"connect-failure", "reset", "timeout",
                                                   "bad-response", "status"};

struct ClusterStats {
  Counter requests;
  Counter responses_by_class[6];  // index status/100 (0 = no response)
  Counter connects;               // new upstream connections opened
  Counter connect_failures;
  Counter reuses;                 // requests sent on a pooled connection
  Counter stale_closed;           // pooled connections found closed at checkout
  Counter idle_expired;
  Counter pool_exhausted;
  Counter reused_conn_resends;    // requests re-sent once after a reused connection failed
  Counter retries[size_t(RetryCause::kCount)];  // counted retries (route retry policy)
  Counter retry_budget_exhausted;  // retries refused by the cluster's retry budget
  Gauge open_connections;
  Gauge idle_connections;
  // Circuit breaker (resilience/cluster_limits.h): this worker's counts checked against its share
  // of each limit, and the refusals by limit (indexed by resilience::Limit; 0 unused).
  Gauge active_requests;  // tries admitted (holding or opening a connection): max_requests
  Gauge pending;          // tries queued for a pooled connection: max_pending
  Gauge active_retries;   // retries in flight (the retry loop holds them): max_retries
  Counter breaker_rejections[size_t(resilience::Limit::kCount)];
  Counter queue_timeouts;  // queued tries that got no connection in time
  Histogram queue_wait;    // time each queued try waited, whatever the outcome
  Gauge panic;                    // 1 while this worker's view of the cluster is in panic mode
  Counter panics;                 // times this worker entered panic mode
  // Per host, by key. Entries are created by the owning worker under its shard's registry lock.
  std::map<std::string, std::unique_ptr<HostCounters>> hosts;
};

}  // namespace cw::upstream
