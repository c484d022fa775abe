// Upstream stats kept in a worker's shard, keyed by cluster and host name so they outlive the
// snapshots (reloads) that point at them. Thread contract: written by the owning worker only,
// read by the admin thread (see base/counter.h).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/counter.h"

namespace cw::upstream {

struct HostCounters {
  Gauge active_requests;
  Counter requests;
  Counter failures;  // connect failures, resets, timeouts
  Histogram latency;
  // Outlier detection and the per-host breaker, as this worker sees them (each worker judges
  // its own traffic; the admin thread sums or takes the max over workers).
  Gauge ejected;                 // 1 while this worker has the host ejected
  Gauge ejected_until_wall_ms;   // wall-clock end of that ejection, 0 when not ejected
  Gauge times_ejected;           // the back-off multiplier
  Gauge breaker_state;           // resilience::BreakerState: 0 closed, 1 open, 2 half_open
  Counter ejections[4];          // by resilience::EjectReason (index 0 unused)
  Counter breaker_opens;
};

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
  Gauge open_connections;
  Gauge idle_connections;
  Gauge panic;                    // 1 while this worker's view of the cluster is in panic mode
  Counter panics;                 // times this worker entered panic mode
  // Per host, by key. Entries are created by the owning worker under its shard's registry lock.
  std::map<std::string, std::unique_ptr<HostCounters>> hosts;
};

}  // namespace cw::upstream
