// WorkerCluster: one worker's view of a cluster snapshot. Availability is pushed by events
// (connect outcomes, back-off timers, health messages, try outcomes feeding outlier detection and
// the per-host breaker, their timers) into the HostStats the balancer reads in place, so a pick
// costs what its policy reads, not O(hosts). Detection is per worker (shared-nothing): each
// worker judges the traffic it sends. Thread contract: see cluster.h.
#include <algorithm>

#include "resilience/panic.h"
#include "resilience/slow_start.h"
#include "runtime/clock.h"
#include "upstream/cluster.h"

namespace cw::upstream {
namespace {
// A host whose connects keep failing sits out for a doubling back-off, capped; one success
// brings it back. Keeps an unreachable host from eating first tries while it is down.
constexpr int64_t kDownBaseMs = 1000;
constexpr int64_t kDownMaxMs = 30000;

bool hashing(LbPolicy p) { return p == LbPolicy::kRingHash || p == LbPolicy::kMaglev; }
}  // namespace

resilience::OutlierSettings outlier_settings(const config::Cluster& c) {
  const config::OutlierDetection o = c.outlier_detection.value_or(config::OutlierDetection{});
  resilience::OutlierSettings s;
  s.enabled = o.enabled;
  s.consecutive_5xx = o.consecutive_5xx;
  s.consecutive_gateway_failure = o.consecutive_gateway_failure;
  s.base_ejection_ms = o.base_ejection_time.count();
  s.max_ejection_ms = o.max_ejection_time.count();
  s.max_ejection_percent = o.max_ejection_percent;
  s.interval_ms = std::max<int64_t>(o.interval.count(), 1);
  s.success_rate_minimum_hosts = o.success_rate_minimum_hosts;
  s.success_rate_request_volume = o.success_rate_request_volume;
  s.success_rate_stdev_factor = o.success_rate_stdev_factor;
  return s;
}

resilience::HostBreakerSettings host_breaker_settings(const config::Cluster& c) {
  const config::HostCircuitBreaker b =
      c.circuit_breaker ? c.circuit_breaker->host : config::HostCircuitBreaker{};
  return {b.consecutive_failures, b.open_time.count(), b.half_open_requests};
}

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
      hosts_(new HostRuntime[size_]),
      outlier_(outlier_settings(snap_->settings), size_),
      breaker_(host_breaker_settings(snap_->settings)),
      panic_threshold_(snap_->settings.panic_threshold),
      rng_(seed ^ 0x5bd1e995u) {
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
  if (snap_->settings.slow_start && !hashing(snap_->policy)) {
    slow_window_ms_ = snap_->settings.slow_start->window.count();
    slow_min_percent_ = snap_->settings.slow_start->min_weight_percent;
  }
  interval_timer_.ctx = this;
  interval_timer_.fire = &WorkerCluster::on_interval;
  const PoolLimits limits{snap_->settings.pool.max_connections, snap_->settings.pool.max_idle,
                          snap_->settings.pool.idle_timeout.count()};
  const int64_t now = loop_.now_ms();
  for (size_t i = 0; i < size_; ++i) {
    const Host& host = *snap_->hosts[i];
    HostRuntime& h = hosts_[i];
    h.owner = this;
    h.index = uint32_t(i);
    for (rt::TimerNode* t : {&h.backoff_timer, &h.eject_timer, &h.breaker_timer}) t->ctx = &h;
    h.backoff_timer.fire = &WorkerCluster::on_backoff_end;
    h.eject_timer.fire = &WorkerCluster::on_eject_end;
    h.breaker_timer.fire = &WorkerCluster::on_breaker_half_open;
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
      h.slow_start_since_ms = old->slow_start_since_ms;
      h.breaker = old->breaker;
      if (old->down_until_ms > now) {
        h.down_until_ms = old->down_until_ms;
        loop_.timers().arm(h.backoff_timer, h.down_until_ms);
      }
      outlier_.adopt(i, previous->outlier_.host(old->index));
      if (outlier_.host(i).ejected)
        loop_.timers().arm(h.eject_timer, outlier_.host(i).ejected_until_ms);
      if (h.breaker.state() == resilience::BreakerState::kOpen)
        loop_.timers().arm(h.breaker_timer, h.breaker.open_until_ms());
    } else if (previous && slow_window_ms_ > 0) {
      h.slow_start_since_ms = std::max<int64_t>(now, 1);  // new to the cluster: ramps up
    }
    if (h.pool) {
      h.pool->set_limits(limits);
      h.pool->set_stats(&stats);
    } else {
      h.pool = std::make_shared<ConnPool>(loop_, limits, &stats);
    }
    h.serving = h.healthy && !outlier_.host(i).ejected;
    h.fit = h.serving && h.breaker.admits(breaker_);
    fit_count_ += h.fit;
  }
  if (previous && previous->interval_timer_.armed())  // the interval goes on where it was
    loop_.timers().arm(interval_timer_, previous->interval_timer_.expiry_tick);
  // Set, not toggled: the previous generation may have left the shard's gauge either way.
  panic_ = resilience::in_panic(fit_count_, size_, panic_threshold_);
  stats_shard_.panic.set(panic_ ? 1 : 0);
  if (panic_ && !(previous && previous->panic_)) stats_shard_.panics.inc();
  for (size_t i = 0; i < size_; ++i) set_available(hosts_[i]);
}

WorkerCluster::~WorkerCluster() {
  for (size_t i = 0; i < size_; ++i) {
    HostRuntime& h = hosts_[i];
    for (rt::TimerNode* t : {&h.backoff_timer, &h.eject_timer, &h.breaker_timer})
      loop_.timers().cancel(*t);
  }
  loop_.timers().cancel(interval_timer_);
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

int WorkerCluster::pick_without(const LbContext& ctx, int a, int b) {
  // Out for this one pick only: at most two flags, put back at once.
  const HostStatsView view(hosts_.get(), size_, &HostRuntime::lb);
  bool* flags[2] = {a >= 0 ? &hosts_[size_t(a)].lb.available : nullptr,
                    b >= 0 ? &hosts_[size_t(b)].lb.available : nullptr};
  const bool was[2] = {flags[0] && *flags[0], flags[1] && *flags[1]};
  for (bool* f : flags)
    if (f) *f = false;
  const int chosen = lb_.pick(ctx, view);
  if (flags[1]) *flags[1] = was[1];
  if (flags[0]) *flags[0] = was[0];
  return chosen;
}

int WorkerCluster::pick(const LbContext& ctx, int exclude) {
  if (exclude >= 0 && size_t(exclude) >= size_) exclude = -1;
  int chosen = exclude < 0 ? lb_.pick(ctx, HostStatsView(hosts_.get(), size_, &HostRuntime::lb))
                           : pick_without(ctx, exclude, -1);
  if (chosen < 0) return chosen;
  HostRuntime& h = hosts_[size_t(chosen)];
  if (h.slow_start_since_ms != 0 || h.breaker.state() != resilience::BreakerState::kClosed)
      [[unlikely]] {
    chosen = admit(ctx, chosen, exclude);
  }
  return chosen;
}

int WorkerCluster::admit(const LbContext& ctx, int chosen, int exclude) {
  HostRuntime* h = &hosts_[size_t(chosen)];
  if (h->slow_start_since_ms != 0) {
    const double pct = resilience::slow_start_percent(h->slow_start_since_ms, loop_.now_ms(),
                                                      slow_window_ms_, slow_min_percent_);
    if (pct >= 100) {
      h->slow_start_since_ms = 0;
    } else if (rng_.uniform() * 100 >= pct) {
      // Ramping: kept with probability weight% / 100, else the pick goes elsewhere once, so
      // the host's share scales with its ramped weight. Alone, it keeps the pick.
      const int other = pick_without(ctx, exclude, chosen);
      if (other >= 0) {
        chosen = other;
        h = &hosts_[size_t(chosen)];
      }
    }
  }
  if (h->breaker.state() == resilience::BreakerState::kHalfOpen) {
    h->breaker.on_start();  // a probe: the bound may take the host out until it answers
    publish_breaker(*h);
    refresh(size_t(chosen));
  }
  return chosen;
}

bool WorkerCluster::apply_panic() {
  const bool p = resilience::in_panic(fit_count_, size_, panic_threshold_);
  if (p == panic_) return false;
  panic_ = p;
  stats_shard_.panic.set(p ? 1 : 0);
  if (p) stats_shard_.panics.inc();
  return true;
}

void WorkerCluster::refresh(size_t i) {
  HostRuntime& h = hosts_[i];
  const bool serving = h.healthy && !outlier_.host(i).ejected;
  if (serving && !h.serving && slow_window_ms_ > 0) {
    h.slow_start_since_ms = std::max<int64_t>(loop_.now_ms(), 1);  // back: ramps up again
  }
  h.serving = serving;
  const bool fit = serving && h.breaker.admits(breaker_);
  if (fit != h.fit) {
    h.fit = fit;
    if (fit) {
      ++fit_count_;
    } else {
      --fit_count_;
    }
    if (apply_panic()) {
      for (size_t k = 0; k < size_; ++k) set_available(hosts_[k]);
      return;
    }
  }
  set_available(h);
}

void WorkerCluster::on_connect_failure(size_t i) {
  HostRuntime& h = hosts_[i];
  const int shift = std::min(h.consecutive_connect_failures, 5);
  h.down_until_ms = loop_.now_ms() + std::min(kDownBaseMs << shift, kDownMaxMs);
  ++h.consecutive_connect_failures;
  loop_.timers().arm(h.backoff_timer, h.down_until_ms);  // re-arming moves it
  refresh(i);
}

void WorkerCluster::on_connect_success(size_t i) {
  HostRuntime& h = hosts_[i];
  h.consecutive_connect_failures = 0;
  if (h.down_until_ms == 0) return;
  loop_.timers().cancel(h.backoff_timer);
  h.down_until_ms = 0;
  refresh(i);
}

void WorkerCluster::on_backoff_end(rt::TimerNode* n) {
  HostRuntime& h = *static_cast<HostRuntime*>(n->ctx);
  h.down_until_ms = 0;
  h.owner->refresh(h.index);
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
  refresh(i);
}

bool WorkerCluster::set_host_health(std::string_view key, bool healthy) {
  const int j = find(key);
  if (j < 0) return false;
  set_host_health(size_t(j), healthy);
  return true;
}

void WorkerCluster::publish_breaker(HostRuntime& h) {
  h.counters->breaker_state.set(int64_t(h.breaker.state()));
}

void WorkerCluster::on_try_outcome(size_t i, resilience::Outcome o) {
  if (i >= size_) return;
  HostRuntime& h = hosts_[i];
  const int64_t now = loop_.now_ms();
  const resilience::BreakerState was = h.breaker.state();
  switch (o) {
    case resilience::Outcome::kNeutral:
      h.breaker.on_neutral();
      break;
    case resilience::Outcome::kSuccess:
    case resilience::Outcome::k5xx:  // the host answered: its breaker guards reachability
      h.breaker.on_success();
      break;
    case resilience::Outcome::kGatewayFailure:
      if (h.breaker.on_failure(breaker_, now)) {
        h.counters->breaker_opens.inc();
        loop_.timers().arm(h.breaker_timer, h.breaker.open_until_ms());
      }
      break;
  }
  if (h.breaker.state() != was) publish_breaker(h);  // the common try changes nothing
  const resilience::EjectReason r = outlier_.on_outcome(i, o, now);
  if (r != resilience::EjectReason::kNone) eject(i, r);
  if (o != resilience::Outcome::kNeutral && outlier_.settings().enabled &&
      !interval_timer_.armed()) {
    loop_.timers().arm(interval_timer_, now + outlier_.settings().interval_ms);
  }
  refresh(i);
}

void WorkerCluster::eject(size_t i, resilience::EjectReason r) {
  HostRuntime& h = hosts_[i];
  const resilience::HostOutlierState& st = outlier_.host(i);
  h.counters->ejections[size_t(r)].inc();
  h.counters->ejected.set(1);
  h.counters->times_ejected.set(st.times_ejected);
  h.counters->ejected_until_wall_ms.set(rt::wall_ms() + (st.ejected_until_ms - loop_.now_ms()));
  loop_.timers().arm(h.eject_timer, st.ejected_until_ms);
  if (ejection_hook_ && *ejection_hook_) (*ejection_hook_)(snap_->name, snap_->hosts[i]->key, true);
}

void WorkerCluster::on_eject_end(rt::TimerNode* n) {
  HostRuntime& h = *static_cast<HostRuntime*>(n->ctx);
  WorkerCluster& c = *h.owner;
  c.outlier_.uneject(h.index, c.loop_.now_ms());
  h.counters->ejected.set(0);
  h.counters->ejected_until_wall_ms.set(0);
  c.refresh(h.index);
  if (c.ejection_hook_ && *c.ejection_hook_) {
    (*c.ejection_hook_)(c.snap_->name, c.snap_->hosts[h.index]->key, false);
  }
}

void WorkerCluster::on_breaker_half_open(rt::TimerNode* n) {
  HostRuntime& h = *static_cast<HostRuntime*>(n->ctx);
  h.breaker.on_open_end();
  h.owner->publish_breaker(h);
  h.owner->refresh(h.index);
}

void WorkerCluster::on_interval(rt::TimerNode* n) {
  WorkerCluster& c = *static_cast<WorkerCluster*>(n->ctx);
  const int64_t now = c.loop_.now_ms();
  c.scratch_.clear();
  const bool again = c.outlier_.on_interval(now, c.scratch_);
  for (size_t i : c.scratch_) {
    c.eject(i, resilience::EjectReason::kSuccessRate);
    c.refresh(i);
  }
  for (size_t i = 0; i < c.size_; ++i)
    c.hosts_[i].counters->times_ejected.set(c.outlier_.host(i).times_ejected);
  if (again) c.loop_.timers().arm(c.interval_timer_, now + c.outlier_.settings().interval_ms);
}

}  // namespace cw::upstream
