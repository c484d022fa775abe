// The admin endpoint table and its method checks. Thread contract: see dispatch.h.
#include "admin/dispatch.h"

#include <exception>

#include "admin/api.h"
#include "admin/index_page.h"
#include "admin/metrics.h"
#include "admin/reply.h"
#include "admin/stats_sum.h"

namespace cw::admin {
namespace {

using Handler = Response (*)(const AdminHooks&, std::string_view body);

std::shared_ptr<const proxy::ProxySnapshot> current(const AdminHooks& h) {
  return h.snapshot ? h.snapshot() : nullptr;
}

Response no_config() {
  return error_reply(503, "no_config", {{"detail", "no configuration is loaded yet"}});
}

Response get_index(const AdminHooks& h, std::string_view) {
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = index_page(h.version);
  return r;
}

Response get_healthz(const AdminHooks&, std::string_view) {
  return json_reply(200, {{"status", "ok"}});
}

Response get_ready(const AdminHooks& h, std::string_view) {
  const bool ready = h.ready && h.ready();
  return json_reply(ready ? 200 : 503, {{"ready", ready}});
}

Response get_metrics(const AdminHooks& h, std::string_view) {
  auto snap = current(h);
  MetricsInfo info;
  info.config_generation = snap ? snap->generation : 0;
  info.version = h.version;
  Response r;
  r.content_type = std::string(kPrometheusContentType);
  r.body = render_metrics(sum_stats(h.workers), info);
  return r;
}

Response get_clusters(const AdminHooks& h, std::string_view) {
  auto snap = current(h);
  if (!snap) return no_config();
  return json_reply(200, clusters_json(*snap, sum_stats(h.workers)));
}

Response get_listeners(const AdminHooks& h, std::string_view) {
  auto snap = current(h);
  if (!snap) return no_config();
  std::map<std::string, rt::SocketAddress> bound;
  if (h.bound_listeners) bound = h.bound_listeners();
  return json_reply(200, listeners_json(*snap, bound));
}

Response get_config(const AdminHooks& h, std::string_view) {
  auto snap = current(h);
  if (!snap) return no_config();
  return json_reply(200, config_json(*snap));
}

Response post_reload(const AdminHooks& h, std::string_view) {
  if (!h.reload) {
    return error_reply(501, "not_supported", {{"detail", "reload is not available here"}});
  }
  return reload_reply(h.reload());
}

struct Endpoint {
  std::string_view path;
  std::string_view method;  // GET endpoints also answer HEAD
  Handler handler;
};

constexpr Endpoint kEndpoints[] = {
    {"/", "GET", &get_index},
    {"/healthz", "GET", &get_healthz},
    {"/ready", "GET", &get_ready},
    {"/metrics", "GET", &get_metrics},
    {"/api/v1/clusters", "GET", &get_clusters},
    {"/api/v1/listeners", "GET", &get_listeners},
    {"/api/v1/config", "GET", &get_config},
    {"/api/v1/reload", "POST", &post_reload},
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

Response route(const AdminHooks& hooks, std::string_view method, std::string_view target,
               std::string_view body) {
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
    if (e.method == as) return e.handler(hooks, body);
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

}  // namespace

Response dispatch(const AdminHooks& hooks, std::string_view method, std::string_view target,
                  std::string_view body) {
  // The control thread must survive any request: a throwing hook or JSON step is a 500, not a
  // terminate() from the connection's coroutine.
  try {
    return route(hooks, method, target, body);
  } catch (const std::exception& e) {
    return error_reply(500, "internal_error", {{"detail", e.what()}});
  } catch (...) {
    return error_reply(500, "internal_error", {{"detail", "unknown exception"}});
  }
}

}  // namespace cw::admin
