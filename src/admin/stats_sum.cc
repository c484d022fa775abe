// Summing stats shards across workers. Thread contract: see stats_sum.h.
#include "admin/stats_sum.h"

#include <iterator>
#include <algorithm>
#include <mutex>

namespace cw::admin {

void LatencySum::add(const Histogram& h) {
  for (int i = 0; i <= Histogram::kBuckets; ++i) {
    const uint64_t n = h.bucket(i);
    buckets[i] += n;
    count += n;
  }
  sum_us += h.sum_us();
}

std::optional<double> LatencySum::quantile_ms(double q) const {
  if (count == 0) return std::nullopt;
  if (q < 0) q = 0;
  if (q > 1) q = 1;
  const double rank = q * double(count);
  uint64_t below = 0;
  for (int i = 0; i <= Histogram::kBuckets; ++i) {
    const uint64_t in = buckets[i];
    if (in == 0 || double(below + in) < rank) {
      below += in;
      continue;
    }
    if (i == Histogram::kBuckets) return Histogram::kBoundsMs[Histogram::kBuckets - 1];
    const double lo = i == 0 ? 0.0 : Histogram::kBoundsMs[i - 1];
    const double hi = Histogram::kBoundsMs[i];
    double frac = (rank - double(below)) / double(in);
    if (frac < 0) frac = 0;
    return lo + (hi - lo) * frac;
  }
  return Histogram::kBoundsMs[Histogram::kBuckets - 1];  // unreachable: count > 0
}

double ClusterSum::reuse_ratio() const {
  const uint64_t total = reuses + connects;
  return total == 0 ? 0.0 : double(reuses) / double(total);
}

namespace {

void add_cluster(ClusterSum& s, const upstream::ClusterStats& c) {
  s.requests += c.requests.get();
  for (int i = 0; i < 6; ++i) s.responses_by_class[i] += c.responses_by_class[i].get();
  s.connects += c.connects.get();
  s.connect_failures += c.connect_failures.get();
  s.reuses += c.reuses.get();
  s.stale_closed += c.stale_closed.get();
  s.idle_expired += c.idle_expired.get();
  s.pool_exhausted += c.pool_exhausted.get();
  s.reused_conn_resends += c.reused_conn_resends.get();
  for (size_t i = 0; i < size_t(upstream::RetryCause::kCount); ++i) s.retries[i] += c.retries[i].get();
  s.retry_budget_exhausted += c.retry_budget_exhausted.get();
  s.open_connections += c.open_connections.get();
  s.idle_connections += c.idle_connections.get();
  s.active_requests += c.active_requests.get();
  s.pending += c.pending.get();
  s.active_retries += c.active_retries.get();
  for (size_t i = 0; i < size_t(resilience::Limit::kCount); ++i)
    s.breaker_rejections[i] += c.breaker_rejections[i].get();
  s.queue_timeouts += c.queue_timeouts.get();
  s.queue_wait.add(c.queue_wait);
  s.panic_workers += c.panic.get();
  s.panics += c.panics.get();
  for (const auto& [key, h] : c.hosts) {
    if (!h) continue;
    HostSum& hs = s.hosts[key];
    hs.active_requests += h->active_requests.get();
    hs.pending += h->pending.get();
    hs.requests += h->requests.get();
    hs.failures += h->failures.get();
    hs.latency.add(h->latency);
    hs.ewma_us = std::max(hs.ewma_us, h->ewma_us.get());
    hs.ejected_workers += h->ejected.get();
    hs.ejected_until_wall_ms = std::max(hs.ejected_until_wall_ms, h->ejected_until_wall_ms.get());
    hs.times_ejected = std::max(hs.times_ejected, h->times_ejected.get());
    const int64_t b = h->breaker_state.get();
    if (b >= 0 && b < 3) ++hs.breaker[b];
    for (size_t r = 0; r < 4; ++r) hs.ejections[r] += h->ejections[r].get();
    hs.breaker_opens += h->breaker_opens.get();
  }
}

void add_accept(StatsSum& s, const rt::AcceptCounters& c) {
  for (size_t i = 0; i < size_t(rt::AcceptError::kCount); ++i)
    s.accept_errors[i] += c.errors[i].get();
  s.accept_shed += c.shed.get();
}

}  // namespace

void add_admin_counters(StatsSum& s, const AdminCounters& c) {
  add_accept(s, c.accept);
  s.admin_connections += c.connections.get();
  s.admin_evicted += c.evicted.get();
  s.admin_refused += c.refused.get();
}

StatsSum sum_stats(const std::vector<proxy::Worker*>& workers) {
  StatsSum s;
  for (proxy::Worker* w : workers) {
    if (!w) continue;
    ++s.workers;
    proxy::WorkerStats& ws = w->stats();
    for (size_t i = 0; i < size_t(proxy::ProxyError::kCount); ++i)
      s.errors[i] += ws.errors[i].get();
    s.requests += ws.requests.get();
    s.downstream_connections += ws.downstream_connections.get();
    s.downstream_denied += ws.downstream_denied.get();
    s.downstream_active += ws.downstream_active.get();
    s.downstream_idle += ws.downstream_idle.get();
    add_accept(s, w->accept_counters());

    std::lock_guard lock(ws.registry_mu);
    for (const auto& [key, r] : ws.routes) {
      if (!r) continue;
      RouteSum& rs = s.routes[key];
      if (rs.listener.empty()) {
        rs.listener = r->listener;
        rs.route = r->route;
      }
      if (rs.cluster.empty()) rs.cluster = r->cluster;
      for (int code = 0; code < 600; ++code) rs.by_status[code] += r->by_status[code].get();
      rs.latency.add(r->latency);
      for (size_t k = 0; k < std::size(rs.faults); ++k) rs.faults[k] += r->faults[k].get();
    }
    for (const auto& [name, c] : ws.clusters) {
      if (c) add_cluster(s.clusters[name], *c);
    }
  }
  return s;
}

}  // namespace cw::admin
