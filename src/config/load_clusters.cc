// clusters[]: discovery, endpoints, balancing, pool, and the resilience settings (health
// checks, outlier detection, circuit breaker, retry budget).
#include <algorithm>

#include "config/loader.h"
#include "config/net.h"

namespace cw::config::detail {
namespace {

// A registry service name, as the registry accepts it (a DNS label, lower case).
bool is_service_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char ch : s) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
  }
  return true;
}

// A DNS name as a resolver accepts it: dot-separated labels of [A-Za-z0-9_-], 1-63 each, at
// most 253 in all, one trailing dot allowed. '_' is for SRV owner names (_api._tcp.internal).
bool is_dns_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (char ch : s) {
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// What is wrong with a dns cluster's `hostname` (empty when nothing): "name:port", or an SRV
// name ("_service._proto.domain") without a port. Fills name (lowercased) and port.
std::string dns_hostname(std::string_view text, std::string& name, uint16_t& port) {
  const size_t colon = text.rfind(':');
  std::string_view host = colon == std::string_view::npos ? text : text.substr(0, colon);
  std::string_view port_text = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (text.find('[') != std::string_view::npos || parse_cidr(host) ||
      std::count(text.begin(), text.end(), ':') > 1) {
    return "'" + std::string(text) +
           "' is an address, not a name to resolve (use discovery: static with endpoints)";
  }
  if (!is_dns_name(host)) {
    return "expected a DNS name and port such as api.internal:8080 (labels of [A-Za-z0-9_-], "
           "1-63 each), got '" + std::string(text) + "'";
  }
  const bool srv = host.front() == '_';
  if (srv && colon != std::string_view::npos) {
    return "'" + std::string(host) +
           "' is an SRV name: its records give the ports, so it takes no ':" +
           std::string(port_text) + "'";
  }
  if (!srv) {
    int v = 0;
    const bool digits = !port_text.empty() && port_text.size() <= 5 &&
                        std::all_of(port_text.begin(), port_text.end(),
                                    [](char c) { return c >= '0' && c <= '9'; });
    if (digits) v = std::stoi(std::string(port_text));
    if (!digits || v < 1 || v > 65535) {
      return "expected host:port with a port 1-65535 (or an SRV name such as "
             "_api._tcp.internal), got '" + std::string(text) + "'";
    }
    port = uint16_t(v);
  }
  if (host.back() == '.') host.remove_suffix(1);
  name = to_lower(std::string(host));
  return "";
}

}  // namespace

void Loader::cluster(const Node& n, const std::string& path, Cluster& c) {
  const Map m =
      open_map(n, path,
               {"name", "discovery", "service", "hostname", "resolvers", "endpoints", "lb", "hash_on",
                "connect_timeout", "protocol", "pool", "health_check", "outlier_detection",
                "circuit_breaker", "retry_budget", "panic_threshold", "slow_start"});
  cluster_name_sites_.push_back(Site{YAML::Mark::null_mark(), ""});
  if (!m.ok) return;
  if (const Entry* e = need(m, "name")) {
    set(c.name, name(e->value, e->path));
    cluster_name_sites_.back() = Site{e->value.mark(), e->path};
  }
  bool supported_discovery = true;  // a known discovery: the keys below are checked for it
  if (const Entry* e = m.find("discovery")) {
    if (auto d = choice(e->value, e->path, {"static", "dns", "registry"}, "discovery")) {
      c.discovery = *d;
    } else {
      supported_discovery = false;
    }
  }
  const bool is_static = supported_discovery && c.discovery == "static";
  const bool is_registry = supported_discovery && c.discovery == "registry";
  const bool is_dns = supported_discovery && c.discovery == "dns";
  // service / hostname / resolvers belong to registry / dns discovery.
  for (auto [key, wants] : {std::pair<std::string_view, std::string_view>{"service", "registry"},
                            {"hostname", "dns"},
                            {"resolvers", "dns"}}) {
    const Entry* e = m.find(key);
    if (e == nullptr) continue;
    if (key == "resolvers") {
      if (supported_discovery && c.discovery != wants) {
        error(e->key_node.mark(), e->path, "'resolvers' is only used with discovery: dns");
      } else {
        resolvers(*e, c);
      }
      continue;
    }
    auto v = string(e->value, e->path);
    if (supported_discovery && c.discovery != wants) {
      error(e->key_node.mark(), e->path,
            "'" + std::string(key) + "' is only used with discovery: " + std::string(wants));
    } else if (key == "service" && v) {
      c.service = *v;
      if (!is_service_name(c.service)) {
        error(e->value, e->path,
              "expected a registry service name ([a-z0-9-], 1-63, not starting or ending with "
              "'-'), got '" + c.service + "'");
      }
    } else if (key == "hostname" && v) {
      const std::string why = dns_hostname(*v, c.hostname, c.hostname_port);
      if (!why.empty()) error(e->value, e->path, why);
    }
  }
  if (is_registry && !m.find("service") && !m.was_suggested("service")) {
    error(n, child(path, "service"),
          "missing required key 'service' (the registry service this cluster follows)");
  }
  if (is_dns && !m.find("hostname") && !m.was_suggested("hostname")) {
    error(n, child(path, "hostname"),
          "missing required key 'hostname' (the name to resolve and its port, such as "
          "api.internal:8080, or an SRV name such as _api._tcp.internal)");
  }
  if (const Entry* e = m.find("endpoints")) {
    if (is_registry || is_dns) {
      error(e->key_node.mark(), e->path,
            is_dns ? "'endpoints' is only used with discovery: static (a dns cluster's hosts are "
                     "the addresses its hostname resolves to)"
                   : "'endpoints' is only used with discovery: static (a registry cluster's "
                     "hosts are the service's instances)");
    } else {
      endpoints(*e, is_static, c);
    }
  } else if (is_static && !m.was_suggested("endpoints")) {
    error(n, child(path, "endpoints"),
          "missing required key 'endpoints' (a static cluster needs at least one endpoint)");
  }
  if (const Entry* e = m.find("lb")) {
    set(c.lb, choice(e->value, e->path,
                     {"round_robin", "weighted_round_robin", "least_request", "peak_ewma", "random",
                      "ring_hash", "maglev"},
                     "load balancer"));
  }
  if (const Entry* e = m.find("hash_on")) hash_on(*e, c);
  if (const Entry* e = m.find("connect_timeout"))
    set(c.connect_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("protocol")) {
    if (auto p = choice(e->value, e->path, {"http1", "http2"}, "protocol")) {
      if (*p != "http1") {
        error(e->value, e->path,
              "protocol '" + *p + "' is not supported yet (this version speaks 'http1' upstream)");
      }
      c.protocol = *p;
    }
  }
  if (const Entry* e = m.find("pool")) pool(*e, c.pool);
  if (const Entry* e = m.find("health_check")) health_check(*e, c.health_check.emplace());
  if (const Entry* e = m.find("outlier_detection"))
    outlier_detection(*e, c.outlier_detection.emplace());
  if (const Entry* e = m.find("circuit_breaker")) circuit_breaker(*e, c.circuit_breaker.emplace());
  if (const Entry* e = m.find("retry_budget")) retry_budget(*e, c.retry_budget.emplace());
  if (const Entry* e = m.find("panic_threshold"))
    set(c.panic_threshold, percent(e->value, e->path));
  if (const Entry* e = m.find("slow_start")) slow_start(*e, c.slow_start.emplace());
}

void Loader::resolvers(const Entry& e, Cluster& c) {
  if (!is_list(e.value, e.path, "a list of DNS server addresses (ip or ip:port)")) return;
  size_t i = 0;
  for (const Node& each : e.value.items()) {
    const std::string p = item(e.path, i++);
    // "10.0.0.53" (port 53) or "127.0.0.1:8600", as dns.recursors reads them.
    if (each.is_scalar() && each.scalar().find('/') == std::string_view::npos) {
      if (auto ip = parse_cidr(each.scalar())) {
        const std::string s(each.scalar());
        if (auto a = parse_address(ip->v6 ? "[" + s + "]:53" : s + ":53")) {
          c.resolvers.push_back(std::move(*a));
          continue;
        }
      }
    }
    if (auto a = address(each, p, /*listen=*/false)) c.resolvers.push_back(std::move(*a));
  }
  if (e.value.size() == 0) {
    error(e.value, e.path,
          "resolvers needs at least one address (leave the key out to use /etc/resolv.conf)");
  }
}

void Loader::endpoints(const Entry& e, bool static_discovery, Cluster& c) {
  if (!is_list(e.value, e.path, "endpoints")) return;
  c.endpoints.reserve(e.value.size());
  AddressIndex<Endpoint, &Endpoint::address> seen(c.endpoints, e.value.size());
  size_t i = 0;
  for (const Node& each : e.value.items()) {
    Endpoint ep;
    const std::string p = item(e.path, i++);
    endpoint(each, p, ep);
    if (ep.address.port == 0) continue;  // invalid, already reported
    // Tried as the last element; taken out again when it is a duplicate.
    c.endpoints.push_back(std::move(ep));
    if (seen.add(c.endpoints.size() - 1) != c.endpoints.size() - 1) {
      error(each, p, "duplicate endpoint " + c.endpoints.back().address.text());
      c.endpoints.pop_back();
    }
  }
  if (static_discovery && e.value.size() == 0) {
    error(e.value, e.path, "a static cluster needs at least one endpoint");
  }
}

void Loader::endpoint(const Node& n, const std::string& path, Endpoint& ep) {
  if (n.is_scalar()) {
    set(ep.address, address(n, path, /*listen=*/false));
    return;
  }
  if (!n.is_map()) {
    expected(n, path, "an endpoint: \"ip:port\" or { address: \"ip:port\", weight: N }");
    return;
  }
  const Map m = open_map(n, path, {"address", "weight"});
  if (const Entry* e = need(m, "address")) set(ep.address, address(e->value, e->path, false));
  if (const Entry* e = m.find("weight")) {
    set(ep.weight, std::optional<uint32_t>(integer(e->value, e->path, 1, 1'000'000)));
  }
}

void Loader::hash_on(const Entry& e, Cluster& c) {
  auto s = scalar(e.value, e.path, "source_ip, header:NAME or cookie:NAME");
  if (!s) return;
  bool good = *s == "source_ip";
  for (std::string_view prefix : {"header:", "cookie:"}) {
    if (s->starts_with(prefix) && is_token(std::string_view(*s).substr(prefix.size()))) good = true;
  }
  if (!good) {
    expected(e.value, e.path, "source_ip, header:NAME or cookie:NAME");
    return;
  }
  // Only ring_hash and maglev read it; other balancers ignore it (the SPEC's own example sets
  // it beside least_request), so it is not an error.
  c.hash_on = s->starts_with("header:") ? "header:" + to_lower(s->substr(7)) : *s;
}

void Loader::pool(const Entry& e, Pool& p) {
  const Map m =
      open_map(e.value, e.path, {"max_connections", "max_idle", "idle_timeout", "queue_timeout"});
  if (const Entry* x = m.find("max_connections")) {
    set(p.max_connections, std::optional<size_t>(integer(x->value, x->path, 1, 1'000'000)));
  }
  if (const Entry* x = m.find("max_idle")) {
    set(p.max_idle, std::optional<size_t>(integer(x->value, x->path, 0, 1'000'000)));
  }
  if (const Entry* x = m.find("idle_timeout")) set(p.idle_timeout, duration(x->value, x->path));
  if (const Entry* x = m.find("queue_timeout")) {
    set(p.queue_timeout, duration(x->value, x->path, /*allow_zero=*/true));
  }
}

void Loader::health_check(const Entry& e, HealthCheck& h) {
  const Map m =
      open_map(e.value, e.path,
               {"http", "tcp", "interval", "timeout", "unhealthy_threshold", "healthy_threshold",
                "host", "expected_statuses", "jitter"});
  if (!m.ok) return;
  const Entry* http = m.find("http");
  const Entry* tcp = m.find("tcp");
  if (http) {
    if (auto s = string(http->value, http->path); s && s->front() != '/') {
      error(http->value, http->path,
            "http check path must start with '/', got '" + truncate(*s) + "'");
    } else if (s && !std::all_of(s->begin(), s->end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      // It goes into the request line as written.
      error(http->value, http->path,
            "http check path must be visible ASCII without spaces (percent-encode the rest), "
            "got '" + truncate(escape_text(*s)) + "'");
    } else if (s) {
      h.kind = HealthCheck::Kind::kHttp;
      h.http_path = std::move(*s);
    }
  }
  if (tcp) {
    // Without `http` a check is a TCP connect; `tcp: false` alone would ask for no check.
    if (auto b = boolean(tcp->value, tcp->path); b && !*b && !http) {
      error(tcp->value, tcp->path, "a health check needs 'http: PATH' or 'tcp: true'");
    }
  }
  if (http && tcp) {
    error(tcp->key_node.mark(), tcp->path,
          "'tcp' conflicts with 'http': a check is one or the other");
  }
  if (const Entry* x = m.find("interval")) set(h.interval, duration(x->value, x->path));
  if (const Entry* x = m.find("timeout")) set(h.timeout, duration(x->value, x->path));
  if (const Entry* x = m.find("unhealthy_threshold")) {
    set(h.unhealthy_threshold, std::optional<uint32_t>(integer(x->value, x->path, 1, 1000)));
  }
  if (const Entry* x = m.find("healthy_threshold")) {
    set(h.healthy_threshold, std::optional<uint32_t>(integer(x->value, x->path, 1, 1000)));
  }
  if (const Entry* x = m.find("jitter")) {
    if (auto j = percent(x->value, x->path); j && *j > 50) {
      error(x->value, x->path,
            "jitter is at most 50 (percent of the interval), got " + truncate(escape_text(
                                                                         x->value.scalar())));
    } else {
      set(h.jitter_percent, j);
    }
  }
  const bool http_check = h.kind == HealthCheck::Kind::kHttp;
  for (std::string_view key : {"host", "expected_statuses"}) {
    const Entry* x = m.find(key);
    if (x && !http && !http_check) {
      error(x->key_node.mark(), x->path,
            "'" + std::string(key) + "' is only used by an http check ('http: PATH')");
    }
  }
  if (const Entry* x = m.find("host")) {
    if (auto s = string(x->value, x->path)) {
      // Sent as the Host header: the same characters the parser accepts in one.
      const bool ok = std::all_of(s->begin(), s->end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("-._~:[]!$&'()*+,;=%").find(c) != std::string_view::npos;
      });
      if (!ok) {
        error(x->value, x->path,
              "'" + truncate(escape_text(*s)) + "' is not a valid Host header value");
      } else {
        h.host = std::move(*s);
      }
    }
  }
  if (const Entry* x = m.find("expected_statuses")) expected_statuses(*x, h);
}

void Loader::expected_statuses(const Entry& e, HealthCheck& h) {
  constexpr std::string_view kWhat = "a status code such as 200 or a range such as \"200-299\"";
  if (!is_list(e.value, e.path, "expected_statuses")) return;
  if (e.value.size() == 0) {
    error(e.value, e.path, "expected_statuses needs at least one code or range");
    return;
  }
  std::vector<HealthCheck::StatusRange> out;
  size_t i = 0;
  for (const Node& each : e.value.items()) {
    const std::string p = item(e.path, i++);
    auto s = scalar(each, p, kWhat);
    if (!s) continue;
    const size_t dash = s->find('-');
    const std::string lo = s->substr(0, dash);
    const std::string hi = dash == std::string::npos ? lo : s->substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi) || lo.size() != 3 || hi.size() != 3) {
      expected(each, p, kWhat);
      continue;
    }
    HealthCheck::StatusRange r{std::stoi(lo), std::stoi(hi)};
    if (r.lo < 100 || r.hi > 599 || r.lo > r.hi) {
      error(each, p,
            "'" + *s + "' is not a status code or range within 100-599 (low end first)");
      continue;
    }
    out.push_back(r);
  }
  if (out.size() == e.value.size()) h.expected_statuses = std::move(out);
}

void Loader::outlier_detection(const Entry& e, OutlierDetection& o) {
  const Map m = open_map(
      e.value, e.path,
      {"enabled", "consecutive_5xx", "consecutive_gateway_failure", "base_ejection_time",
       "max_ejection_percent", "max_ejection_time", "interval", "success_rate_minimum_hosts",
       "success_rate_request_volume", "success_rate_stdev_factor"});
  if (!m.ok) return;
  if (const Entry* x = m.find("enabled")) set(o.enabled, boolean(x->value, x->path));
  for (auto [key, field] :
       {std::pair<std::string_view, uint32_t*>{"consecutive_5xx", &o.consecutive_5xx},
        {"consecutive_gateway_failure", &o.consecutive_gateway_failure},
        {"success_rate_minimum_hosts", &o.success_rate_minimum_hosts},
        {"success_rate_request_volume", &o.success_rate_request_volume}}) {
    if (const Entry* x = m.find(key)) {
      set(*field, std::optional<uint32_t>(integer(x->value, x->path, 0, 1'000'000)));
    }
  }
  for (auto [key, field] :
       {std::pair<std::string_view, Duration*>{"base_ejection_time", &o.base_ejection_time},
        {"max_ejection_time", &o.max_ejection_time},
        {"interval", &o.interval}}) {
    if (const Entry* x = m.find(key)) set(*field, duration(x->value, x->path));
  }
  if (const Entry* x = m.find("max_ejection_percent"))
    set(o.max_ejection_percent, percent(x->value, x->path));
  if (const Entry* x = m.find("success_rate_stdev_factor")) {
    set(o.success_rate_stdev_factor,
        decimal(x->value, x->path, 100, "a factor between 0 and 100, e.g. 1.9 (0 = off)"));
  }
}

void Loader::circuit_breaker(const Entry& e, CircuitBreaker& b) {
  const Map m = open_map(e.value, e.path,
                         {"max_connections", "max_pending", "max_requests", "max_retries", "host"});
  if (!m.ok) return;
  if (const Entry* x = m.find("host")) host_circuit_breaker(*x, b.host);
  for (auto [key, field] :
       {std::pair<std::string_view, uint32_t*>{"max_connections", &b.max_connections},
        {"max_pending", &b.max_pending},
        {"max_requests", &b.max_requests},
        {"max_retries", &b.max_retries}}) {
    if (const Entry* x = m.find(key)) {
      set(*field, std::optional<uint32_t>(integer(x->value, x->path, 0, 1'000'000'000)));
    }
  }
}

void Loader::host_circuit_breaker(const Entry& e, HostCircuitBreaker& b) {
  const Map m =
      open_map(e.value, e.path, {"consecutive_failures", "open_time", "half_open_requests"});
  if (!m.ok) return;
  if (const Entry* x = m.find("consecutive_failures")) {
    set(b.consecutive_failures, std::optional<uint32_t>(integer(x->value, x->path, 0, 1'000'000)));
  }
  if (const Entry* x = m.find("open_time")) set(b.open_time, duration(x->value, x->path));
  if (const Entry* x = m.find("half_open_requests")) {
    set(b.half_open_requests, std::optional<uint32_t>(integer(x->value, x->path, 1, 1'000'000)));
  }
}

void Loader::slow_start(const Entry& e, SlowStart& s) {
  const Map m = open_map(e.value, e.path, {"window", "min_weight_percent"});
  if (!m.ok) return;
  if (const Entry* x = m.find("window")) set(s.window, duration(x->value, x->path));
  if (const Entry* x = m.find("min_weight_percent"))
    set(s.min_weight_percent, percent(x->value, x->path));
}

void Loader::retry_budget(const Entry& e, RetryBudget& b) {
  const Map m = open_map(e.value, e.path, {"percent", "min_per_second"});
  if (!m.ok) return;
  if (const Entry* x = m.find("percent")) set(b.percent, percent(x->value, x->path));
  if (const Entry* x = m.find("min_per_second")) {
    set(b.min_per_second, std::optional<uint32_t>(integer(x->value, x->path, 0, 1'000'000)));
  }
}

}  // namespace cw::config::detail
