// JSON API bodies from the snapshot and summed stats. Thread contract: see api.h.
#include "admin/api.h"

#include "admin/reply.h"
#include "resilience/host_breaker.h"
#include "resilience/outlier.h"
#include "runtime/clock.h"

namespace cw::admin {
namespace {

Json latency_json(const LatencySum& l) {
  Json j = Json::object();
  for (auto [name, q] : {std::pair{"p50", 0.5}, std::pair{"p90", 0.9}, std::pair{"p99", 0.99}}) {
    if (auto v = l.quantile_ms(q)) {
      j[name] = *v;
    } else {
      j[name] = nullptr;
    }
  }
  return j;
}

// Outlier ejection as the workers see it: each worker ejects on its own traffic, so a host
// may be ejected by some workers and not others.
Json ejection_json(const HostSum& s) {
  Json by_reason = Json::object();
  for (size_t r = 1; r < resilience::kEjectReasons; ++r)
    by_reason[resilience::eject_reason_name(resilience::EjectReason(r))] = s.ejections[r];
  const int64_t left = s.ejected_workers > 0 ? s.ejected_until_wall_ms - rt::wall_ms() : 0;
  Json j = {{"ejected", s.ejected_workers > 0},
            {"ejected_workers", s.ejected_workers},
            {"remaining_ms", std::max<int64_t>(left, 0)},
            {"times_ejected", s.times_ejected},
            {"ejections", std::move(by_reason)}};
  j["until_unix_ms"] = s.ejected_workers > 0 ? Json(s.ejected_until_wall_ms) : Json(nullptr);
  return j;
}

// The worst state any worker's breaker is in, with the count per state.
Json breaker_json(const HostSum& s) {
  using resilience::BreakerState;
  const BreakerState worst = s.breaker[1] > 0   ? BreakerState::kOpen
                             : s.breaker[2] > 0 ? BreakerState::kHalfOpen
                                                : BreakerState::kClosed;
  return {
      {"state", resilience::breaker_state_name(worst)},
      {"workers", {{"closed", s.breaker[0]}, {"open", s.breaker[1]}, {"half_open", s.breaker[2]}}},
      {"opens", s.breaker_opens}};
}

Json host_json(const upstream::Host& h, const HostSum* s) {
  static const HostSum kNone;
  if (!s) s = &kNone;
  // A static host's key is its address; a discovered one's is its identity (the registry's
  // instance id), shown beside the address it has now.
  return {{"address", h.address.text()},
          {"key", h.key},
          {"weight", h.weight},
          {"healthy", h.healthy.load(std::memory_order_relaxed)},
          {"active_requests", s->active_requests},
          {"pending_requests", s->pending},
          {"requests", s->requests},
          {"failures", s->failures},
          {"latency_ms", latency_json(s->latency)},
          {"ewma_latency_ms", double(s->ewma_us) / 1000.0},
          {"outlier", ejection_json(*s)},
          {"breaker", breaker_json(*s)}};
}

// Each limit: the configured cluster-wide value, the share each worker enforces, what is in use
// (summed over workers) and the refusals so far.
Json breaker_json(const config::Cluster& c, const ClusterSum& sum, size_t workers) {
  using resilience::Limit;
  const resilience::ClusterLimits limits(c.circuit_breaker.value_or(config::CircuitBreaker{}),
                                         int(workers));
  const std::pair<Limit, int64_t> in_use[] = {{Limit::kMaxConnections, sum.open_connections},
                                              {Limit::kMaxPending, sum.pending},
                                              {Limit::kMaxRequests, sum.active_requests},
                                              {Limit::kMaxRetries, sum.active_retries}};
  Json j = {{"workers", workers}};
  for (auto [l, used] : in_use) {
    j[std::string(resilience::limit_name(l))] = {{"limit", limits.configured(l)},
                                                 {"per_worker", limits.share(l)},
                                                 {"in_use", used},
                                                 {"rejections", sum.breaker_rejections[size_t(l)]}};
  }
  return j;
}

Json queue_json(const config::Cluster& c, const ClusterSum& sum) {
  return {{"timeout_ms", c.pool.queue_timeout.count()},
          {"pending", sum.pending},
          {"timeouts", sum.queue_timeouts},
          {"waits", sum.queue_wait.count},
          {"wait_ms", latency_json(sum.queue_wait)}};
}

Json dns_cluster_json(const DnsClusterView& d) {
  return {{"hostname", d.hostname},
          {"state", d.state},
          {"addresses", d.addresses},
          {"ttl_s", d.ttl_s},
          {"next_refresh_in_ms", d.next_refresh_in_ms},
          {"last_error", d.last_error.empty() ? Json(nullptr) : Json(d.last_error)}};
}

}  // namespace

Json host_check_json(const health::HostHealth& h) {
  Json last = nullptr;
  if (h.state.checks() > 0) {
    last = {{"result", h.last.ok ? "success" : "failure"},
            {"status", h.last.status > 0 ? Json(h.last.status) : Json(nullptr)},
            {"error", h.last.error.empty() ? Json(nullptr) : Json(h.last.error)},
            {"at_unix_ms", h.last_at_unix_ms},
            {"duration_ms", h.last.duration_ms}};
  }
  return {{"state", std::string(resilience::verdict_name(h.state.verdict()))},
          {"consecutive_successes", h.state.consecutive_successes()},
          {"consecutive_failures", h.state.consecutive_failures()},
          {"checks_passed", h.successes_total},
          {"checks_failed", h.failures_total},
          {"last", std::move(last)}};
}

Json clusters_json(const proxy::ProxySnapshot& snap, const StatsSum& stats,
                   const health::HealthMonitor* health,
                   const decltype(AdminHooks::dns_cluster)* dns_cluster) {
  static const ClusterSum kNone;
  Json out = Json::array();
  for (const auto& cs : snap.clusters) {
    if (!cs) continue;
    auto it = stats.clusters.find(cs->name);
    const ClusterSum& sum = it != stats.clusters.end() ? it->second : kNone;
    Json hosts = Json::array();
    for (const auto& h : cs->hosts) {
      auto hit = sum.hosts.find(h->key);
      hosts.push_back(host_json(*h, hit != sum.hosts.end() ? &hit->second : nullptr));
      if (const health::HostHealth* hh = health ? health->host(cs->name, h->key) : nullptr) {
        hosts.back()["check"] = host_check_json(*hh);
      }
    }
    Json responses = Json::object();
    constexpr const char* kClass[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int k = 0; k < 6; ++k) responses[kClass[k]] = sum.responses_by_class[k];
    out.push_back({{"name", cs->name},
                   {"lb", cs->settings.lb},
                   {"discovery", cs->settings.discovery},
                   {"health_check", health && health->checks(cs->name)},
                   {"hosts", std::move(hosts)},
                   {"requests", sum.requests},
                   {"responses", std::move(responses)},
                   {"connect_failures", sum.connect_failures},
                   {"connections_open", sum.open_connections},
                   {"connections_idle", sum.idle_connections},
                   {"reuse_ratio", sum.reuse_ratio()},
                   {"active_requests", sum.active_requests},
                   {"pending_requests", sum.pending},
                   {"circuit_breaker", breaker_json(cs->settings, sum, stats.workers)},
                   {"pool_queue", queue_json(cs->settings, sum)},
                   {"panic", {{"workers", sum.panic_workers}, {"entered", sum.panics}}}});
    if (dns_cluster && *dns_cluster && cs->settings.discovery == "dns") {
      if (auto d = (*dns_cluster)(cs->name)) out.back()["dns"] = dns_cluster_json(*d);
    }
  }
  return out;
}

Json listeners_json(const proxy::ProxySnapshot& snap,
                    const std::map<std::string, rt::SocketAddress>& bound) {
  Json out = Json::array();
  for (const auto& ls : snap.listeners) {
    const config::Listener& l = ls->cfg;
    auto b = bound.find(ls->key);
    Json routes = Json::array();
    for (const auto& r : l.routes) {
      Json rj = {{"name", r.name}, {"match", match_to_json(r.match)}};
      if (!r.cluster.empty()) rj["cluster"] = r.cluster;
      if (r.direct_response) {
        rj["direct_response"] = {{"status", r.direct_response->status},
                                 {"content_type", r.direct_response->content_type}};
      }
      if (r.redirect) {
        rj["redirect"] = {{"location", r.redirect->location}, {"status", r.redirect->status}};
      }
      rj["timeout_ms"] = r.timeout.count();
      routes.push_back(std::move(rj));
    }
    Json allow = Json::array();
    Json deny = Json::array();
    Json trusted = Json::array();
    for (const auto& c : l.access.allow) allow.push_back(c.text);
    for (const auto& c : l.access.deny) deny.push_back(c.text);
    for (const auto& c : l.trusted_proxies) trusted.push_back(c.text);
    out.push_back({{"name", l.name},
                   {"address", b != bound.end() ? b->second.text() : l.listen.text()},
                   {"configured_address", l.listen.text()},
                   {"protocol", l.protocol},
                   {"routes", std::move(routes)},
                   {"access", {{"allow", std::move(allow)}, {"deny", std::move(deny)}}},
                   {"trusted_proxies", std::move(trusted)}});
  }
  return out;
}

Json config_json(const proxy::ProxySnapshot& snap) {
  Json j = Json::object();
  j["source"] = snap.config ? snap.config->source : "";
  j["generation"] = snap.generation;
  if (snap.config) {
    Json model = config_to_json(*snap.config);
    for (auto& [k, v] : model.items()) j[k] = std::move(v);
  }
  return j;
}

AdminServer::Response reload_reply(const ReloadOutcome& outcome) {
  if (outcome.ok && outcome.workers_pending > 0) {
    return json_reply(202, {{"status", "installing"},
                            {"generation", outcome.generation},
                            {"workers_pending", outcome.workers_pending},
                            {"detail",
                             "the new config is committed, but some workers have not "
                             "acknowledged it yet; they serve it once they do"}});
  }
  if (outcome.ok)
    return json_reply(200, {{"status", "reloaded"}, {"generation", outcome.generation}});
  return error_reply(400, "config_invalid",
                     {{"errors", outcome.errors}, {"generation", outcome.generation}});
}

}  // namespace cw::admin
