// WorkerCluster: one worker's view of a cluster snapshot. Availability is pushed by events
// (connect outcomes, back-off timers, health messages) into the HostStats the balancer reads in
// place, so a pick costs what its policy reads, not O(hosts). Thread contract: see cluster.h.
#include <algorithm>

#include "upstream/cluster.h"

namespace cw::upstream {
namespace {
// A host whose connects keep failing sits out for a doubling back-off, capped; one success
// brings it back. Keeps an unreachable host from eating first tries while it is down.
constexpr int64_t kDownBaseMs = 1000;
constexpr int64_t kDownMaxMs = 30000;
}  // namespace

WorkerCluster::WorkerCluster(std::shared_ptr<const ClusterSnapshot> snap, rt::EventLoop& loop,
                             uint64_t seed, WorkerCluster* previous, ClusterStats& stats,
                             std::mutex& registry_mu, int workers)
    : snap_(std::move(snap)),
      loop_(loop),
      stats_shard_(stats),
      lb_(snap_->balancer ? snap_->balancer->clone(seed)
                          : LoadBalancer(snap_->policy, lb_hosts(*snap_), seed)),
      limits_(snap_->settings.circuit_breaker.value_or(config::CircuitBreaker{}), workers),
      size_(snap_->hosts.size()),
      hosts_(new HostRuntime[size_]) {
  {
    std::lock_guard lock(registry_mu);
    for (size_t i = 0; i < size_; ++i) {
      auto& hc = stats.hosts[snap_->hosts[i]->key];
      if (!hc) hc = std::make_unique<HostCounters>();
      hosts_[i].counters = hc.get();
    }
  }
  if (previous) budget_ = previous->budget_;
  const config::RetryBudget rb = snap_->settings.retry_budget.value_or(config::RetryBudget{});
  budget_.configure(rb.percent, rb.min_per_second);
  const PoolLimits limits{snap_->settings.pool.max_connections, snap_->settings.pool.max_idle,
                          snap_->settings.pool.idle_timeout.count()};
  const int64_t now = loop_.now_ms();
  for (size_t i = 0; i < size_; ++i) {
    const Host& host = *snap_->hosts[i];
    HostRuntime& h = hosts_[i];
    h.backoff_timer.ctx = &h;
    h.backoff_timer.fire = &WorkerCluster::on_backoff_end;
    // In-flight counts live in the worker's shard, shared by every generation, so a request
    // that started before this rebuild is counted where the balancer looks.
    h.lb.active = &h.counters->active_requests;
    h.healthy = host.healthy.load(std::memory_order_relaxed);
    if (const HostRuntime* old = previous ? previous->carried_from(host) : nullptr) {
      h.pool = old->pool;
      h.lb.ewma_rtt_ns = old->lb.ewma_rtt_ns;
      h.lb.ewma_stamp_ns = old->lb.ewma_stamp_ns;
      h.healthy = old->healthy;  // the worker's view: health messages arrive in order
      h.consecutive_connect_failures = old->consecutive_connect_failures;
      if (old->down_until_ms > now) {
        h.down_until_ms = old->down_until_ms;
        loop_.timers().arm(h.backoff_timer, h.down_until_ms);
      }
    }
    if (h.pool) {
      h.pool->set_limits(limits);
      h.pool->set_stats(&stats);
    } else {
      h.pool = std::make_shared<ConnPool>(loop_, limits, &stats);
    }
    refresh(h);
  }
}

WorkerCluster::~WorkerCluster() {
  for (size_t i = 0; i < size_; ++i) loop_.timers().cancel(hosts_[i].backoff_timer);
}

HostRuntime* WorkerCluster::carried_from(const Host& host) {
  const int j = snap_->find(host.key);
  if (j < 0 || !same_address(snap_->hosts[size_t(j)]->address, host.address)) return nullptr;
  return &hosts_[size_t(j)];
}

std::shared_ptr<ConnPool> WorkerCluster::shared_pool(const std::string& key) {
  const int j = find(key);
  return j >= 0 ? hosts_[size_t(j)].pool : nullptr;
}

int WorkerCluster::pick(const LbContext& ctx, int exclude) {
  const HostStatsView view(hosts_.get(), size_, &HostRuntime::lb);
  if (exclude < 0 || size_t(exclude) >= size_) return lb_.pick(ctx, view);
  // Out for this one pick only: one host, one flag, put back at once.
  HostStats& ex = hosts_[size_t(exclude)].lb;
  const bool was = ex.available;
  ex.available = false;
  const int chosen = lb_.pick(ctx, view);
  ex.available = was;
  return chosen;
}

void WorkerCluster::on_connect_failure(size_t i) {
  HostRuntime& h = hosts_[i];
  const int shift = std::min(h.consecutive_connect_failures, 5);
  h.down_until_ms = loop_.now_ms() + std::min(kDownBaseMs << shift, kDownMaxMs);
  ++h.consecutive_connect_failures;
  loop_.timers().arm(h.backoff_timer, h.down_until_ms);  // re-arming moves it
  refresh(h);
}

void WorkerCluster::on_connect_success(size_t i) {
  HostRuntime& h = hosts_[i];
  h.consecutive_connect_failures = 0;
  if (h.down_until_ms == 0) return;
  loop_.timers().cancel(h.backoff_timer);
  h.down_until_ms = 0;
  refresh(h);
}

void WorkerCluster::on_backoff_end(rt::TimerNode* n) {
  HostRuntime& h = *static_cast<HostRuntime*>(n->ctx);
  h.down_until_ms = 0;
  refresh(h);
}

bool WorkerCluster::try_admit_retry(GaugeHold& hold) {
  if (hold.held()) return true;  // this retry is already counted
  if (!limits_.admits(resilience::Limit::kMaxRetries, stats_shard_.active_retries.get())) {
    reject(resilience::Limit::kMaxRetries);
    return false;
  }
  hold.hold(stats_shard_.active_retries);
  return true;
}

void WorkerCluster::set_host_health(size_t i, bool healthy) {
  hosts_[i].healthy = healthy;
  refresh(hosts_[i]);
}

bool WorkerCluster::set_host_health(std::string_view key, bool healthy) {
  const int j = find(key);
  if (j < 0) return false;
  set_host_health(size_t(j), healthy);
  return true;
}

}  // namespace cw::upstream
