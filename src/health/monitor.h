// HealthMonitor: the active health checks of every cluster that has `health_check`, run once
// per cluster (never per worker) on one loop, the control thread's: one coroutine per host,
// checks every interval (with jitter) under a timeout. Each host's verdict comes from the
// threshold state machine (resilience/health_state.h); when a host's serving status changes,
// the monitor publishes it on the snapshot's Host (Host::healthy, what a new generation starts
// from) and calls the VerdictSink, which the server turns into one message per worker
// (WorkerCluster::set_host_health: availability is pushed, picks never look here).
// update() follows reloads and cluster updates: added hosts get a probe, removed ones lose it,
// kept ones (by key) keep their state.
// Thread contract: everything on the loop's thread; admin reads it there (read-only).
#pragma once

#include <coroutine>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/random.h"
#include "config/model.h"
#include "health/check.h"
#include "resilience/health_state.h"
#include "runtime/event_loop.h"
#include "runtime/tcp.h"
#include "upstream/cluster.h"

namespace cw::health {

// What admin shows for one host.
struct HostHealth {
  resilience::HealthState state;
  CheckResult last;            // the last finished check (empty before the first)
  int64_t last_at_unix_ms = 0;  // when it finished, wall clock
  uint64_t successes_total = 0;
  uint64_t failures_total = 0;
};

class HealthMonitor {
 public:
  // Called on the loop's thread when a host's serving status changes (or must be restored
  // because its cluster stopped checking).
  using VerdictSink =
      std::function<void(const std::string& cluster, const std::string& host_key, bool healthy)>;

  HealthMonitor(rt::EventLoop& loop, VerdictSink sink, uint64_t seed);
  ~HealthMonitor();  // stops every probe
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // The clusters now in force (a reload): starts checks for new clusters and hosts, stops those
  // gone (a cluster whose checks were turned off gets its hosts back in service), keeps the
  // state of hosts kept by key, applies changed check settings from the next check.
  void update(const std::vector<std::shared_ptr<const upstream::ClusterSnapshot>>& clusters);
  // One cluster's new host set (a discovery update; also what update() does per cluster).
  void update_cluster(const std::shared_ptr<const upstream::ClusterSnapshot>& cluster);

  // Stops every probe: sleeping ones at once, checks in flight at their next step. Drain
  // waits for idle() (bounded by the check timeout: a connect cannot be interrupted).
  void stop();
  bool idle() const;

  // Read-only views for admin. Null when the cluster has no checks or no such host.
  const HostHealth* host(std::string_view cluster, std::string_view key) const;
  bool checks(std::string_view cluster) const;
  // Every checked host, by cluster then key.
  void visit(const std::function<void(const std::string& cluster, const std::string& key,
                                      const HostHealth&)>& fn) const;

 private:
  struct Probe;
  struct ClusterChecks {
    std::shared_ptr<const config::HealthCheck> cfg;
    std::map<std::string, std::shared_ptr<Probe>, std::less<>> hosts;  // by host key
  };
  class WaitUntil;

  rt::Task<void> run_probe(std::shared_ptr<Probe> p);
  void record(Probe& p, CheckResult r);
  int64_t jittered(const config::HealthCheck& cfg);
  void retire(const std::shared_ptr<Probe>& p);
  // Stops a cluster's probes; hosts they had taken out serve again in `now` (the cluster as it
  // is now, without checks), or null when the cluster itself is gone.
  void remove_cluster(std::map<std::string, ClusterChecks, std::less<>>::iterator it,
                      const upstream::ClusterSnapshot* now);

  rt::EventLoop& loop_;
  VerdictSink sink_;
  SplitMix64 rng_;
  bool stopped_ = false;
  std::map<std::string, ClusterChecks, std::less<>> clusters_;
  std::vector<std::shared_ptr<Probe>> retired_;  // stopped, their coroutine may still run
};

}  // namespace cw::health
