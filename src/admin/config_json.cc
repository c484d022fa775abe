// Config model -> JSON, in the YAML file's own key names. Thread contract: pure functions.
#include "admin/config_json.h"

namespace cw::admin {
namespace {

Json cidrs(const std::vector<config::Cidr>& list) {
  Json out = Json::array();
  for (const auto& c : list) out.push_back(c.text);
  return out;
}

Json health_check_to_json(const config::HealthCheck& h) {
  Json j = Json::object();
  const bool http = h.kind == config::HealthCheck::Kind::kHttp;
  if (http) {
    j["http"] = h.http_path;
    if (!h.host.empty()) j["host"] = h.host;
    Json codes = Json::array();
    for (const auto& r : h.expected_statuses) {
      codes.push_back(r.lo == r.hi ? std::to_string(r.lo)
                                   : std::to_string(r.lo) + "-" + std::to_string(r.hi));
    }
    j["expected_statuses"] = std::move(codes);
  } else {
    j["tcp"] = true;
  }
  j["interval"] = format_duration(h.interval);
  j["timeout"] = format_duration(h.timeout);
  j["jitter"] = h.jitter_percent;
  j["unhealthy_threshold"] = h.unhealthy_threshold;
  j["healthy_threshold"] = h.healthy_threshold;
  return j;
}

// A fault delay as the file writes it: "20ms", "10ms-50ms", "exp:20ms".
std::string format_latency(const LatencyDist& d) {
  using K = LatencyDist::Kind;
  const std::string a = format_duration(config::Duration(d.a_ms));
  if (d.kind == K::kUniform) return a + "-" + format_duration(config::Duration(d.b_ms));
  return d.kind == K::kExponential ? "exp:" + a : a;
}

Json fault_to_json(const config::Fault& f) {
  Json j = Json::object();
  if (f.delay) {
    j["delay"] = {{"percent", f.delay->percent},
                  {"duration", format_latency(f.delay->duration)}};
  }
  if (f.abort) j["abort"] = {{"percent", f.abort->percent}, {"status", f.abort->status}};
  if (f.reset) j["reset"] = {{"percent", f.reset->percent}};
  if (f.throttle) {
    j["throttle"] = {{"percent", f.throttle->percent},
                     {"bytes_per_second", f.throttle->bytes_per_second}};
  }
  return j;
}

}  // namespace

std::string format_duration(config::Duration d) {
  int64_t ms = d.count();
  if (ms <= 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  const int64_t h = ms / 3'600'000;
  ms %= 3'600'000;
  const int64_t m = ms / 60'000;
  ms %= 60'000;
  if (h) out += std::to_string(h) + "h";
  if (m) out += std::to_string(m) + "m";
  if (ms) {
    out += std::to_string(ms / 1000);
    if (int64_t frac = ms % 1000) {
      std::string f = std::to_string(frac);
      f.insert(0, 3 - f.size(), '0');
      while (f.back() == '0') f.pop_back();
      out += "." + f;
    }
    out += "s";
  }
  return out;
}

Json match_to_json(const config::RouteMatch& m) {
  Json j = Json::object();
  if (m.path) j["path"] = *m.path;
  if (m.path_prefix) j["path_prefix"] = *m.path_prefix;
  if (m.path_regex) j["path_regex"] = *m.path_regex;
  if (m.host) j["host"] = *m.host;
  if (!m.methods.empty()) j["method"] = m.methods;
  if (!m.headers.empty()) {
    Json hs = Json::array();
    for (const auto& h : m.headers) {
      Json hj = {{"name", h.name}};
      if (h.exact) hj["exact"] = *h.exact;
      if (h.regex) hj["regex"] = *h.regex;
      if (h.present) hj["present"] = true;
      hs.push_back(std::move(hj));
    }
    j["headers"] = std::move(hs);
  }
  return j;
}

Json route_to_json(const config::Route& r) {
  Json j = {{"name", r.name}, {"match", match_to_json(r.match)}};
  if (!r.cluster.empty()) j["cluster"] = r.cluster;
  if (r.direct_response) {
    j["direct_response"] = {{"status", r.direct_response->status},
                            {"body", r.direct_response->body},
                            {"content_type", r.direct_response->content_type}};
  }
  if (r.redirect) {
    j["redirect"] = {{"location", r.redirect->location}, {"status", r.redirect->status}};
  }
  j["timeout"] = format_duration(r.timeout);
  if (r.idle_timeout) j["idle_timeout"] = format_duration(*r.idle_timeout);
  if (r.retry) {
    Json rj = {{"attempts", r.retry->attempts}};
    if (r.retry->per_try_timeout)
      rj["per_try_timeout"] = format_duration(*r.retry->per_try_timeout);
    rj["retry_on"] = r.retry->retry_on;
    rj["backoff"] = {{"base", format_duration(r.retry->backoff_base)},
                     {"max", format_duration(r.retry->backoff_max)}};
    rj["non_idempotent"] = r.retry->non_idempotent;
    j["retry"] = std::move(rj);
  }
  if (r.fault) j["fault"] = fault_to_json(*r.fault);
  return j;
}

Json listener_to_json(const config::Listener& l) {
  Json routes = Json::array();
  for (const auto& r : l.routes) routes.push_back(route_to_json(r));
  return {{"name", l.name},
          {"listen", l.listen.text()},
          {"protocol", l.protocol},
          {"access", {{"allow", cidrs(l.access.allow)}, {"deny", cidrs(l.access.deny)}}},
          {"trusted_proxies", cidrs(l.trusted_proxies)},
          {"header_read_timeout", format_duration(l.header_read_timeout)},
          {"body_read_timeout", format_duration(l.body_read_timeout)},
          {"idle_timeout", format_duration(l.idle_timeout)},
          {"max_header_bytes", l.max_header_bytes},
          {"max_headers", l.max_headers},
          {"routes", std::move(routes)}};
}

// Outlier detection, the per-host breaker, panic mode and slow start, with their defaults.
static void resilience_to_json(const config::Cluster& c, Json& j) {
  const config::OutlierDetection o = c.outlier_detection.value_or(config::OutlierDetection{});
  j["outlier_detection"] = {{"enabled", o.enabled},
                            {"consecutive_5xx", o.consecutive_5xx},
                            {"consecutive_gateway_failure", o.consecutive_gateway_failure},
                            {"base_ejection_time", format_duration(o.base_ejection_time)},
                            {"max_ejection_time", format_duration(o.max_ejection_time)},
                            {"max_ejection_percent", o.max_ejection_percent},
                            {"interval", format_duration(o.interval)},
                            {"success_rate_minimum_hosts", o.success_rate_minimum_hosts},
                            {"success_rate_request_volume", o.success_rate_request_volume},
                            {"success_rate_stdev_factor", o.success_rate_stdev_factor}};
  // The limits apply with their defaults when the key is absent, so they are always shown.
  const config::CircuitBreaker cb = c.circuit_breaker.value_or(config::CircuitBreaker{});
  j["circuit_breaker"] = {{"max_connections", cb.max_connections},
                          {"max_pending", cb.max_pending},
                          {"max_requests", cb.max_requests},
                          {"max_retries", cb.max_retries}};
  const config::HostCircuitBreaker& b = cb.host;
  j["circuit_breaker"]["host"] = {{"consecutive_failures", b.consecutive_failures},
                                  {"open_time", format_duration(b.open_time)},
                                  {"half_open_requests", b.half_open_requests}};
  j["panic_threshold"] = c.panic_threshold;
  if (c.slow_start) {
    j["slow_start"] = {{"window", format_duration(c.slow_start->window)},
                       {"min_weight_percent", c.slow_start->min_weight_percent}};
  }
}

Json cluster_to_json(const config::Cluster& c) {
  Json eps = Json::array();
  for (const auto& e : c.endpoints)
    eps.push_back({{"address", e.address.text()}, {"weight", e.weight}});
  const config::RetryBudget rb = c.retry_budget.value_or(config::RetryBudget{});  // on by default
  Json j = {{"name", c.name},
          {"discovery", c.discovery},
          {"endpoints", std::move(eps)},
          {"lb", c.lb},
          {"hash_on", c.hash_on},
          {"connect_timeout", format_duration(c.connect_timeout)},
          {"protocol", c.protocol},
          {"pool",
           {{"max_connections", c.pool.max_connections},
            {"max_idle", c.pool.max_idle},
            {"idle_timeout", format_duration(c.pool.idle_timeout)},
            {"queue_timeout", format_duration(c.pool.queue_timeout)}}},
          {"retry_budget", {{"percent", rb.percent}, {"min_per_second", rb.min_per_second}}}};
  if (c.discovery == "dns") {
    Json resolvers = Json::array();
    for (const auto& r : c.resolvers) resolvers.push_back(r.text());
    j["hostname"] = c.hostname_port ? c.hostname + ":" + std::to_string(c.hostname_port)
                                    : c.hostname;
    j["resolvers"] = std::move(resolvers);
  }
  if (c.health_check) j["health_check"] = health_check_to_json(*c.health_check);
  return j;
}

Json config_to_json(const config::Config& c) {
  Json j = Json::object();
  if (c.workers > 0) {
    j["workers"] = c.workers;
  } else {
    j["workers"] = "auto";
  }
  j["admin"] = {{"listen", c.admin.listen.text()}};
  if (c.access_log) {
    j["access_log"] = {{"path", c.access_log->path}, {"format", c.access_log->format}};
  }
  j["drain_timeout"] = format_duration(c.drain_timeout);
  Json ls = Json::array();
  for (const auto& l : c.listeners) ls.push_back(listener_to_json(l));
  j["listeners"] = std::move(ls);
  Json cs = Json::array();
  for (const auto& cl : c.clusters) {
    cs.push_back(cluster_to_json(cl));
    resilience_to_json(cl, cs.back());
  }
  j["clusters"] = std::move(cs);
  j["unapplied_keys"] = c.unapplied_keys;
  return j;
}

}  // namespace cw::admin
