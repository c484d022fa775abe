// Prometheus rendering: one HELP/TYPE block per family, samples sorted by labels as the shard
// maps are. Thread contract: see metrics.h.
#include "admin/metrics.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <tuple>
#include <utility>

#include "resilience/outlier.h"

namespace cw::admin {
namespace {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP causeway_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE causeway_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, Labels labels, std::string_view value) {
    out_ += "causeway_";
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (k.empty()) continue;  // an optional label left out
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label_value(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, Labels labels, uint64_t v) { sample(name, labels, num(v)); }
  // A family with one unlabelled sample.
  void counter(std::string_view name, std::string_view help, uint64_t v) {
    family(name, "counter", help);
    sample(name, {}, v);
  }
  void gauge(std::string_view name, std::string_view help, int64_t v) {
    family(name, "gauge", help);
    sample_i(name, {}, v);
  }
  void sample_i(std::string_view name, Labels labels, int64_t v) {
    sample(name, labels, std::to_string(v));
  }
  void sample_f(std::string_view name, Labels labels, double v) { sample(name, labels, num(v)); }

  static std::string num(uint64_t v) { return std::to_string(v); }
  static std::string num(double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  }

 private:
  std::string& out_;
};

// Bucket bounds in seconds, printed once ("0.00025", "0.5", "30").
const std::array<std::string, Histogram::kBuckets>& bucket_bounds() {
  static const std::array<std::string, Histogram::kBuckets> kBounds = [] {
    std::array<std::string, Histogram::kBuckets> b;
    for (int i = 0; i < Histogram::kBuckets; ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", Histogram::kBoundsMs[i] / 1000.0);
      b[i] = buf;
    }
    return b;
  }();
  return kBounds;
}

using Label = std::pair<std::string_view, std::string_view>;

// A histogram's samples, labelled `a` and `b` (a label with an empty name is left out).
void histogram(Writer& w, std::string_view name, Label a, Label b, const LatencySum& h) {
  const std::string base(name);
  const std::string bucket = base + "_bucket";
  uint64_t cum = 0;
  for (int i = 0; i < Histogram::kBuckets; ++i) {
    cum += h.buckets[i];
    w.sample(bucket, {a, b, {"le", bucket_bounds()[i]}}, cum);
  }
  w.sample(bucket, {a, b, {"le", "+Inf"}}, h.count);
  w.sample_f(base + "_sum", {a, b}, double(h.sum_us) / 1e6);
  w.sample(base + "_count", {a, b}, h.count);
}

constexpr std::string_view kClassNames[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

// One counter family per cluster field.
struct ClusterCounter {
  std::string_view name;
  std::string_view help;
  uint64_t ClusterSum::*field;
};
constexpr ClusterCounter kClusterCounters[] = {
    {"upstream_requests_total",
     "Client requests routed to the cluster; each counts once, however many tries it took.",
     &ClusterSum::requests},
    {"upstream_retry_budget_exhausted_total",
     "Retries not sent because the cluster's retry budget was spent.",
     &ClusterSum::retry_budget_exhausted},
    {"upstream_connections_opened_total", "New upstream connections opened.",
     &ClusterSum::connects},
    {"upstream_connect_failures_total", "Upstream connection attempts that failed.",
     &ClusterSum::connect_failures},
    {"upstream_connection_reuses_total", "Requests sent on a pooled connection.",
     &ClusterSum::reuses},
    {"upstream_stale_connections_closed_total",
     "Pooled connections found closed by the upstream at checkout.", &ClusterSum::stale_closed},
    {"upstream_idle_expired_total", "Pooled connections closed by the idle timeout.",
     &ClusterSum::idle_expired},
    {"upstream_pool_exhausted_total",
     "Tries that found their host's pool at max_connections (then queued, or refused).",
     &ClusterSum::pool_exhausted},
    {"pool_queue_timeouts_total",
     "Tries that waited pool.queue_timeout in the pool queue and got no connection.",
     &ClusterSum::queue_timeouts},
    {"upstream_reused_connection_resends_total",
     "Requests re-sent once after a reused connection failed.", &ClusterSum::reused_conn_resends},
};

// Active health checks (health/monitor.h): per checked host, checks by result and the verdict.
void health_metrics(Writer& w, const health::HealthMonitor& m) {
  w.family("health_checks_total", "counter", "Active health checks finished, by result.");
  m.visit([&](const std::string& cluster, const std::string& host, const health::HostHealth& h) {
    w.sample("health_checks_total", {{"cluster", cluster}, {"host", host}, {"result", "success"}},
             h.successes_total);
    w.sample("health_checks_total", {{"cluster", cluster}, {"host", host}, {"result", "failure"}},
             h.failures_total);
  });
  w.family("host_healthy", "gauge",
           "1 while a checked host serves (healthy, or not checked yet), 0 while its checks "
           "have it out.");
  m.visit([&](const std::string& cluster, const std::string& host, const health::HostHealth& h) {
    w.sample("host_healthy", {{"cluster", cluster}, {"host", host}},
             uint64_t(h.state.serving() ? 1 : 0));
  });
}

// Circuit-breaker limits (resilience/cluster_limits.h) and the pool queue, per cluster.
void breaker_metrics(Writer& w, const StatsSum& s) {
  using resilience::Limit;
  w.family("breaker_rejections_total", "counter",
           "Tries refused by a circuit-breaker limit (answered 503 overflow), by limit.");
  for (const auto& [name, c] : s.clusters) {
    for (size_t l = 1; l < size_t(Limit::kCount); ++l) {
      w.sample("breaker_rejections_total",
               {{"cluster", name}, {"limit", resilience::limit_name(Limit(l))}},
               c.breaker_rejections[l]);
    }
  }
  constexpr std::tuple<std::string_view, std::string_view, int64_t ClusterSum::*> kGauges[] = {
      {"upstream_active_requests", "Tries admitted to the cluster (max_requests counts them).",
       &ClusterSum::active_requests},
      {"upstream_pending_requests",
       "Tries queued for a pooled connection (max_pending counts them).", &ClusterSum::pending},
      {"upstream_active_retries", "Retries in flight (max_retries counts them).",
       &ClusterSum::active_retries},
  };
  for (const auto& [gname, help, field] : kGauges) {
    w.family(gname, "gauge", help);
    for (const auto& [name, c] : s.clusters) w.sample_i(gname, {{"cluster", name}}, c.*field);
  }
  w.family("pool_queue_wait_seconds", "histogram",
           "Time tries waited in a pool queue for a connection, whatever the outcome.");
  for (const auto& [name, c] : s.clusters) {
    histogram(w, "pool_queue_wait_seconds", {"cluster", name}, {}, c.queue_wait);
  }
}

// Outlier ejections, host breakers and panic mode (per worker, summed).
void resilience_metrics(Writer& w, const StatsSum& s) {
  w.family("outlier_ejections_total", "counter",
           "Hosts ejected by outlier detection, by reason (each worker judges its own traffic).");
  for (const auto& [name, c] : s.clusters) {
    for (const auto& [host, h] : c.hosts) {
      for (size_t r = 1; r < resilience::kEjectReasons; ++r) {
        w.sample("outlier_ejections_total",
                 {{"cluster", name},
                  {"host", host},
                  {"reason", resilience::eject_reason_name(resilience::EjectReason(r))}},
                 h.ejections[r]);
      }
    }
  }
  w.family("host_breaker_opens_total", "counter", "Times a per-host circuit breaker opened.");
  for (const auto& [name, c] : s.clusters) {
    for (const auto& [host, h] : c.hosts) {
      w.sample("host_breaker_opens_total", {{"cluster", name}, {"host", host}}, h.breaker_opens);
    }
  }
  w.family("panic_total", "counter", "Times a worker's view of a cluster entered panic mode.");
  for (const auto& [name, c] : s.clusters) w.sample("panic_total", {{"cluster", name}}, c.panics);
  w.family("upstream_panic", "gauge", "Workers whose view of the cluster is in panic mode now.");
  for (const auto& [name, c] : s.clusters) {
    w.sample_i("upstream_panic", {{"cluster", name}}, c.panic_workers);
  }
}

// Families of one unlabelled sample each.
struct Plain {
  const char* name;
  const char* type;
  const char* help;
  uint64_t value;
};

void write_plain(Writer& w, std::initializer_list<Plain> rows) {
  for (const Plain& row : rows) {
    w.family(row.name, row.type, row.help);
    w.sample(row.name, {}, row.value);
  }
}

// The lookups of `discovery: dns` clusters (c-ares behind a TTL cache).
void resolver_metrics(Writer& w, const ResolverNumbers& r) {
  write_plain(w, {
      {"dns_resolver_lookups_total", "counter", "Lookups made by dns clusters.", r.lookups},
      {"dns_resolver_queries_total", "counter",
       "Queries sent to DNS servers (one per coalesced group of lookups).", r.queries},
      {"dns_resolver_coalesced_total", "counter",
       "Lookups that joined a query already in flight.", r.coalesced},
      {"dns_resolver_failures_total", "counter", "Queries that ended without an answer.",
       r.failures},
      {"dns_resolver_cache_hits_total", "counter", "Lookups answered from the TTL cache.",
       r.cache_hits},
      {"dns_resolver_stale_served_total", "counter",
       "Expired answers served because a refresh failed (stale-if-error).", r.stale_served},
      {"dns_resolver_cache_entries", "gauge", "Answers in the resolvers' caches.",
       r.cache_entries},
      {"dns_clusters_stale", "gauge",
       "dns clusters whose last refresh failed (serving their last good answer).",
       r.clusters_stale},
  });
}

// The registry (instances by service and health, the index, parked watchers) and the DNS
// server's counters.
void discovery_metrics(Writer& w, const MetricsInfo& info) {
  if (const registry::Registry* reg = info.registry) {
    w.family("registry_index", "gauge", "The registry's index (its last change).");
    w.sample("registry_index", {}, reg->index());
    w.family("registry_instances", "gauge",
             "Registered instances by service and health (ejected ones are counted apart).");
    for (const auto& [name, svc] : reg->services()) {
      uint64_t by[4] = {};
      for (const auto& [id, e] : svc.instances) {
        ++by[e->ejected ? 3 : size_t(e->health)];
      }
      constexpr std::string_view kNames[] = {"unknown", "passing", "critical", "ejected"};
      for (size_t i = 0; i < 4; ++i) {
        if (by[i] || !svc.instances.empty()) {
          w.sample("registry_instances", {{"service", name}, {"health", kNames[i]}}, by[i]);
        }
      }
    }
    w.family("registry_watchers", "gauge", "Blocking queries parked now.");
    w.sample("registry_watchers", {}, uint64_t(reg->waiting()));
    if (reg->mirrored()) {
      const int64_t stale_ms = reg->stale() ? reg->loop().now_ms() - reg->stale_since_ms() : 0;
      write_plain(w, {
          {"registry_stale", "gauge",
           "1 while the shared store (etcd) cannot be reached or has no quorum: the registry "
           "serves its last known state and refuses writes.",
           uint64_t(reg->stale())},
          {"registry_stale_seconds", "gauge", "How long the registry has been stale.",
           uint64_t(std::max<int64_t>(0, stale_ms) / 1000)},
      });
    }
  }
  if (info.resolver) resolver_metrics(w, *info.resolver);
  if (info.dns) {
    const DnsNumbers& d = *info.dns;
    w.family("dns_queries_total", "counter", "DNS queries received, by transport.");
    w.sample("dns_queries_total", {{"transport", "udp"}}, d.queries_udp);
    w.sample("dns_queries_total", {{"transport", "tcp"}}, d.queries_tcp);
    w.family("dns_responses_total", "counter", "DNS responses sent, by transport.");
    w.sample("dns_responses_total", {{"transport", "udp"}}, d.responses_udp);
    w.sample("dns_responses_total", {{"transport", "tcp"}}, d.responses_tcp);
    w.family("dns_dropped_total", "counter",
             "DNS messages answered with nothing (responses, scraps, refused sends).");
    w.sample("dns_dropped_total", {}, d.dropped);
    w.family("dns_truncated_total", "counter", "UDP answers sent with TC set (retry over TCP).");
    w.sample("dns_truncated_total", {}, d.truncated);
    if (d.forwarding) {
      write_plain(w, {
          {"dns_forwarded_total", "counter",
           "Queries for names outside the domain sent to a recursor (cache misses).", d.forwarded},
          {"dns_forward_cache_hits_total", "counter",
           "Queries for names outside the domain answered from the cache.", d.forward_cache_hits},
          {"dns_forward_coalesced_total", "counter",
           "Queries that joined an identical one already sent to a recursor.",
           d.forward_coalesced},
          {"dns_forward_timeouts_total", "counter", "Recursors that did not answer in time.",
           d.forward_timeouts},
          {"dns_forward_servfail_total", "counter",
           "Forwarded queries answered SERVFAIL (every recursor failed, or a limit).",
           d.forward_servfail},
          {"dns_forward_overflow_total", "counter",
           "Forwarded queries refused by the in-flight limits (answered SERVFAIL).",
           d.forward_overflow},
          {"dns_forward_stale_total", "counter",
           "Forwarded queries answered with an expired answer because every recursor failed.",
           d.forward_stale},
          {"dns_forward_mismatched_total", "counter",
           "Upstream datagrams dropped: wrong source, ID or question, or malformed.",
           d.forward_mismatched},
          {"dns_forward_cache_entries", "gauge", "Answers held in the forwarders' caches.",
           d.forward_cache_entries},
      });
    }
  }
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_metrics(const StatsSum& s, const MetricsInfo& info) {
  std::string out;
  out.reserve(8192 + s.routes.size() * 2048 + s.clusters.size() * 2048);
  Writer w(out);

  w.family("build_info", "gauge", "Causeway build; the value is always 1.");
  w.sample("build_info", {{"version", info.version}}, uint64_t(1));
  w.family("workers", "gauge", "Worker threads serving traffic.");
  w.sample("workers", {}, uint64_t(s.workers));
  w.family("config_generation", "gauge", "Generation of the config snapshot being served.");
  w.sample("config_generation", {}, info.config_generation);

  // ---- downstream ----
  w.family("requests_total", "counter",
           "Requests answered, by listener, route, cluster and status.");
  for (const auto& [key, r] : s.routes) {
    for (int code = 0; code < 600; ++code) {
      if (r.by_status[code] == 0) continue;
      const std::string c = std::to_string(code);
      w.sample("requests_total",
               {{"listener", r.listener}, {"route", r.route}, {"cluster", r.cluster}, {"code", c}},
               r.by_status[code]);
    }
  }
  w.family("request_duration_seconds", "histogram",
           "Time from request head received to response complete.");
  for (const auto& [key, r] : s.routes) {
    histogram(w, "request_duration_seconds", {"listener", r.listener}, {"route", r.route},
              r.latency);
  }
  w.family("faults_injected_total", "counter",
           "Faults injected into requests (routes[].fault, x-causeway-fault), by listener, route "
           "and kind (delay, abort, reset, throttle).");
  for (const auto& [key, r] : s.routes) {
    for (size_t k = 0; k < size_t(proxy::FaultKind::kCount); ++k) {
      if (r.faults[k] == 0) continue;
      w.sample("faults_injected_total",
               {{"listener", r.listener},
                {"route", r.route},
                {"kind", proxy::fault_kind_name(proxy::FaultKind(k))}},
               r.faults[k]);
    }
  }
  w.counter("downstream_connections_total", "Client connections accepted.",
            s.downstream_connections);
  w.gauge("downstream_connections_active", "Client connections open now.", s.downstream_active);
  w.gauge("downstream_connections_idle",
          "Keep-alive client connections waiting for their next request.", s.downstream_idle);
  w.counter("downstream_denied_total", "Client connections refused by a listener ACL.",
            s.downstream_denied);
  w.family("accept_errors_total", "counter",
           "Failed accepts on client and admin listeners, by reason (emfile: process out of "
           "descriptors, enfile: system out of descriptors, nomem, other).");
  for (size_t i = 0; i < size_t(rt::AcceptError::kCount); ++i) {
    w.sample("accept_errors_total", {{"reason", rt::accept_error_name(rt::AcceptError(i))}},
             s.accept_errors[i]);
  }
  w.counter("accept_shed_total",
            "Connections accepted with a spare descriptor while out of descriptors and closed at "
            "once (a clean close instead of a hang in the backlog).",
            s.accept_shed);
  w.gauge("admin_connections_active", "Admin listener connections open now.",
          s.admin_connections);
  w.counter("admin_connections_evicted_total",
            "Idle admin connections closed to admit a new one (connection limit or out of "
            "descriptors).",
            s.admin_evicted);
  w.counter("admin_connections_refused_total",
            "New admin connections closed at the connection limit with no idle one to close.",
            s.admin_refused);
  w.counter("downstream_requests_total", "Request heads received (including refused).",
            s.requests);
  w.family("errors_total", "counter", "Requests the proxy answered with its own error, by code.");
  for (size_t i = 1; i < size_t(proxy::ProxyError::kCount); ++i) {
    if (s.errors[i] == 0) continue;
    w.sample("errors_total", {{"code", proxy::error_info(proxy::ProxyError(i)).code}}, s.errors[i]);
  }

  // ---- upstream, per cluster ----
  for (const ClusterCounter& cc : kClusterCounters) {
    w.family(cc.name, "counter", cc.help);
    for (const auto& [name, c] : s.clusters) w.sample(cc.name, {{"cluster", name}}, c.*cc.field);
    if (cc.field == &ClusterSum::requests) {
      w.family("upstream_responses_total", "counter",
               "Upstream responses by status class (none = no response).");
      for (const auto& [name, c] : s.clusters) {
        for (int k = 0; k < 6; ++k) {
          w.sample("upstream_responses_total", {{"cluster", name}, {"class", kClassNames[k]}},
                   c.responses_by_class[k]);
        }
      }
      w.family("upstream_retries_total", "counter",
               "Retries sent by a route's retry policy, by the cause of the try before.");
      for (const auto& [name, c] : s.clusters) {
        for (size_t k = 0; k < size_t(upstream::RetryCause::kCount); ++k) {
          w.sample("upstream_retries_total",
                   {{"cluster", name}, {"cause", upstream::kRetryCauseNames[k]}}, c.retries[k]);
        }
      }
    }
  }
  w.family("upstream_connections_open", "gauge", "Upstream connections open (busy and idle).");
  for (const auto& [name, c] : s.clusters) {
    w.sample_i("upstream_connections_open", {{"cluster", name}}, c.open_connections);
  }
  w.family("upstream_connections_idle", "gauge", "Upstream connections idle in the pools.");
  for (const auto& [name, c] : s.clusters) {
    w.sample_i("upstream_connections_idle", {{"cluster", name}}, c.idle_connections);
  }
  w.family("upstream_connection_reuse_ratio", "gauge",
           "Share of upstream requests sent on a reused connection: reuses / (reuses + opens).");
  for (const auto& [name, c] : s.clusters) {
    w.sample_f("upstream_connection_reuse_ratio", {{"cluster", name}}, c.reuse_ratio());
  }

  breaker_metrics(w, s);

  // ---- upstream, per host ----
  w.family("upstream_host_requests_total", "counter", "Requests sent to one upstream host.");
  for (const auto& [name, c] : s.clusters) {
    for (const auto& [host, h] : c.hosts) {
      w.sample("upstream_host_requests_total", {{"cluster", name}, {"host", host}}, h.requests);
    }
  }
  w.family("upstream_host_active_requests", "gauge", "Requests in flight to one upstream host.");
  for (const auto& [name, c] : s.clusters) {
    for (const auto& [host, h] : c.hosts) {
      w.sample_i("upstream_host_active_requests", {{"cluster", name}, {"host", host}},
                 h.active_requests);
    }
  }
  w.family("upstream_host_pending_requests", "gauge",
           "Tries queued for a connection to one upstream host (its pool is full).");
  for (const auto& [name, c] : s.clusters) {
    for (const auto& [host, h] : c.hosts) {
      w.sample_i("upstream_host_pending_requests", {{"cluster", name}, {"host", host}}, h.pending);
    }
  }
  w.family("upstream_host_failures_total", "counter",
           "Connect failures, resets and timeouts against one upstream host.");
  for (const auto& [name, c] : s.clusters) {
    for (const auto& [host, h] : c.hosts) {
      w.sample("upstream_host_failures_total", {{"cluster", name}, {"host", host}}, h.failures);
    }
  }
  if (info.health) health_metrics(w, *info.health);
  discovery_metrics(w, info);
  resilience_metrics(w, s);
  return out;
}

}  // namespace cw::admin
