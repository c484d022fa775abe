// HealthMonitor: the active health checks of every cluster that has `health_check`, run once
// per cluster (never per worker) on one loop, the control thread's: one coroutine per host,
// checks every interval (with jitter) under a timeout. Each host's verdict comes from the
// threshold state machine (resilience/health_state.h); when a host's serving status changes,
// the monitor publishes it on the snapshot's Host (Host::healthy, what a new generation starts
// from) and calls the VerdictSink, which the server turns into one message per worker
// (WorkerCluster::set_host_health: availability is pushed, picks never look here).
// update() follows reloads and cluster updates: added hosts get a probe, removed ones lose it,
// kept ones (by key) keep their state.
// Besides clusters it checks groups of external targets (the service registry's instances,
// each with its own check): update_group() sets a group's targets, a GroupSink hears their
// verdicts. Targets start unknown and out of service until their first check passes.
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
#include "runtime/socket_address.h"
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

  // One target checked outside any cluster (a registry instance).
  struct Target {
    std::string key;            // unique within its group, e.g. the instance id
    rt::SocketAddress address;  // where to connect (the TCP check, or the HTTP GET)
    // kTcp or kHttp, interval, timeout, thresholds; an HTTP check without `host` sends the
    // address as Host. Never null (a target without one is skipped and logged).
    std::shared_ptr<const config::HealthCheck> check;
  };
  // Called on the loop's thread when a target's verdict changes: healthy=true when it starts
  // serving (its first passed check included), false when it stops, and also when a target
  // that never passed fails its first check (whoever listens has heard nothing of it yet).
  // It may call update_group() (for any group, its own included).
  using GroupSink = std::function<void(const std::string& key, bool healthy)>;

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

  // Replaces the targets of `group` (e.g. "registry/api") and its sink: new keys get a probe,
  // gone keys lose theirs (no sink call for them), kept keys keep their state; a kept key's
  // changed check applies at once (its next check starts now), a changed address makes it a
  // new target (state back to unknown, a fresh probe). An empty vector removes the group.
  // Ignored after stop(). update() and update_cluster() never touch groups.
  void update_group(const std::string& group, std::vector<Target> targets, GroupSink sink);

  // Stops every probe: sleeping ones at once, checks in flight at their next step. Drain
  // waits for idle() (bounded by the check timeout: a connect cannot be interrupted).
  void stop();
  bool idle() const;

  // Read-only views for admin. Null when the cluster has no checks or no such host.
  const HostHealth* host(std::string_view cluster, std::string_view key) const;
  bool checks(std::string_view cluster) const;
  // Every checked host, by cluster then key (cluster hosts only, not targets).
  void visit(const std::function<void(const std::string& cluster, const std::string& key,
                                      const HostHealth&)>& fn) const;
  // One target's health, for admin and the registry. Null when no such group or key.
  const HostHealth* target(std::string_view group, std::string_view key) const;

 private:
  struct Probe;
  struct ClusterChecks {
    std::shared_ptr<const config::HealthCheck> cfg;
    std::map<std::string, std::shared_ptr<Probe>, std::less<>> hosts;  // by host key
  };
  struct TargetGroup {
    // Shared so that a sink that replaces itself (update_group from inside the call) is not
    // destroyed while it runs.
    std::shared_ptr<const GroupSink> sink;
    std::map<std::string, std::shared_ptr<Probe>, std::less<>> targets;  // by target key
  };
  class WaitUntil;

  rt::Task<void> run_probe(std::shared_ptr<Probe> p);
  void record(Probe& p, CheckResult r);
  int64_t jittered(const config::HealthCheck& cfg);
  void retire(const std::shared_ptr<Probe>& p);
  void start_target(TargetGroup& g, const std::string& group, const Target& t);
  // Stops a cluster's probes; hosts they had taken out serve again in `now` (the cluster as it
  // is now, without checks), or null when the cluster itself is gone.
  void remove_cluster(std::map<std::string, ClusterChecks, std::less<>>::iterator it,
                      const upstream::ClusterSnapshot* now);

  rt::EventLoop& loop_;
  VerdictSink sink_;
  SplitMix64 rng_;
  bool stopped_ = false;
  std::map<std::string, ClusterChecks, std::less<>> clusters_;
  std::map<std::string, TargetGroup, std::less<>> groups_;
  std::vector<std::shared_ptr<Probe>> retired_;  // stopped, their coroutine may still run
};

}  // namespace cw::health
