// The admin endpoint table and its method checks. Thread contract: see dispatch.h.
#include "admin/dispatch.h"

#include <exception>
#include <optional>
#include <variant>

#include "admin/api.h"
#include "admin/index_page.h"
#include "admin/metrics.h"
#include "admin/registry_api.h"
#include "admin/reply.h"
#include "admin/stats_sum.h"

namespace cw::admin {
namespace {

struct Request {
  const AdminHooks& hooks;
  const AdminCounters* counters;  // may be null (no listener)
  std::string_view body;
};
using Handler = Response (*)(const Request&);

std::shared_ptr<const proxy::ProxySnapshot> current(const AdminHooks& h) {
  return h.snapshot ? h.snapshot() : nullptr;
}

Response no_config() {
  return error_reply(503, "no_config", {{"detail", "no configuration is loaded yet"}});
}

Response get_index(const Request& q) {
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = index_page(q.hooks.version);
  return r;
}

// Health and readiness are what orchestrators poll: constant work, no stats summing.
Response get_healthz(const Request&) { return json_reply(200, {{"status", "ok"}}); }

Response get_ready(const Request& q) {
  const bool ready = q.hooks.ready && q.hooks.ready();
  return json_reply(ready ? 200 : 503, {{"ready", ready}});
}

Response get_metrics(const Request& q) {
  auto snap = current(q.hooks);
  MetricsInfo info;
  info.config_generation = snap ? snap->generation : 0;
  info.version = q.hooks.version;
  StatsSum sum = sum_stats(q.hooks.workers);
  if (q.counters) add_admin_counters(sum, *q.counters);
  Response r;
  r.content_type = std::string(kPrometheusContentType);
  info.health = q.hooks.health ? q.hooks.health() : nullptr;
  info.registry = q.hooks.registry ? q.hooks.registry() : nullptr;
  if (q.hooks.dns) info.dns = q.hooks.dns();
  if (q.hooks.resolver) info.resolver = q.hooks.resolver();
  r.body = render_metrics(sum, info);
  return r;
}

Response get_clusters(const Request& q) {
  auto snap = current(q.hooks);
  if (!snap) return no_config();
  const health::HealthMonitor* health = q.hooks.health ? q.hooks.health() : nullptr;
  return json_reply(200, clusters_json(*snap, sum_stats(q.hooks.workers), health,
                                       &q.hooks.dns_cluster));
}

Response get_listeners(const Request& q) {
  auto snap = current(q.hooks);
  if (!snap) return no_config();
  std::map<std::string, rt::SocketAddress> bound;
  if (q.hooks.bound_listeners) bound = q.hooks.bound_listeners();
  return json_reply(200, listeners_json(*snap, bound));
}

Response get_config(const Request& q) {
  auto snap = current(q.hooks);
  if (!snap) return no_config();
  return json_reply(200, config_json(*snap));
}

// Only reached without a reload hook; with one, dispatch() awaits it.
Response post_reload(const Request&) {
  return error_reply(501, "not_supported", {{"detail", "reload is not available here"}});
}

struct Endpoint {
  std::string_view path;
  std::string_view method;  // GET endpoints also answer HEAD
  Handler handler;
  bool reload = false;  // answered by awaiting hooks.reload when set
};

constexpr Endpoint kEndpoints[] = {
    {"/", "GET", &get_index},
    {"/healthz", "GET", &get_healthz},
    {"/ready", "GET", &get_ready},
    {"/metrics", "GET", &get_metrics},
    {"/api/v1/clusters", "GET", &get_clusters},
    {"/api/v1/listeners", "GET", &get_listeners},
    {"/api/v1/config", "GET", &get_config},
    {"/api/v1/reload", "POST", &post_reload, true},
};

bool is_token(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '!' || c == '#' || c == '$' || c == '%' ||
                    c == '&' || c == '\'' || c == '*' || c == '+' || c == '.' || c == '^' ||
                    c == '`' || c == '|' || c == '~';
    if (!ok) return false;
  }
  return true;
}

// The endpoint for a request, or the answer when there is none (400, 404, 405).
std::variant<const Endpoint*, Response> route(std::string_view method, std::string_view target) {
  if (!is_token(method)) {
    return error_reply(400, "bad_request", {{"detail", "invalid request method"}});
  }
  if (target.empty() || target.front() != '/') {
    return error_reply(400, "bad_request",
                       {{"detail", "the target must be a path such as /metrics"},
                        {"target", std::string(target)}});
  }
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view as = method == "HEAD" ? std::string_view("GET") : method;
  for (const Endpoint& e : kEndpoints) {
    if (e.path != path) continue;
    if (e.method == as) return &e;
    Json allow = Json::array();
    std::string allow_header(e.method);
    allow.push_back(e.method);
    if (e.method == "GET") {
      allow.push_back("HEAD");
      allow_header += ", HEAD";
    }
    Response r = error_reply(405, "method_not_allowed",
                             {{"method", std::string(method)},
                              {"path", std::string(path)},
                              {"allow", std::move(allow)}});
    r.headers.emplace_back("Allow", allow_header);
    return r;
  }
  return error_reply(404, "not_found", {{"path", std::string(path)}});
}

Response internal_error(const char* what) {
  return error_reply(500, "internal_error", {{"detail", what}});
}

}  // namespace

rt::Task<Response> dispatch(const AdminHooks* hooks, const AdminCounters* counters,
                            std::string_view method, std::string_view target,
                            std::string_view body) {
  // The control thread must survive any request: a throwing hook or JSON step is a 500, not a
  // terminate() from the connection's coroutine.
  const Endpoint* e = nullptr;
  if (is_registry_path(target.substr(0, target.find('?')))) {
    registry::Registry* reg = hooks->registry ? hooks->registry() : nullptr;
    std::optional<Response> out;
    try {
      out = co_await registry_api(reg, method, target, body);
    } catch (const std::exception& ex) {
      out = internal_error(ex.what());
    }
    co_return std::move(*out);
  }
  try {
    auto routed = route(method, target);
    if (auto* answer = std::get_if<Response>(&routed)) co_return std::move(*answer);
    e = std::get<const Endpoint*>(routed);
    if (!e->reload || !hooks->reload) co_return e->handler(Request{*hooks, counters, body});
  } catch (const std::exception& ex) {
    co_return internal_error(ex.what());
  } catch (...) {
    co_return internal_error("unknown exception");
  }
  ReloadOutcome outcome = co_await hooks->reload();
  try {
    co_return reload_reply(outcome);
  } catch (const std::exception& ex) {
    co_return internal_error(ex.what());
  }
}

}  // namespace cw::admin
