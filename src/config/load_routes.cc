// listeners[].routes[]: match, action (cluster, direct_response, redirect), timeouts, retry
// and fault.
#include "config/did_you_mean.h"
#include "config/latency.h"
#include "config/loader.h"

namespace cw::config::detail {

void Loader::route(const Node& n, const std::string& path, const std::string& listener_name,
                   size_t index, Route& r) {
  const Map m = open_map(n, path,
                         {"name", "match", "cluster", "direct_response", "redirect", "timeout",
                          "idle_timeout", "retry", "fault"});
  r.name = listener_name + "/" + std::to_string(index);
  if (!m.ok) return;
  if (const Entry* e = m.find("name")) set(r.name, name(e->value, e->path));
  if (const Entry* e =
          need(m, "match", " (use match: { path_prefix: / } to match every request)")) {
    match(*e, r.match);
  }
  // Exactly one action.
  std::vector<const Entry*> actions;
  for (std::string_view k : {"cluster", "direct_response", "redirect"}) {
    if (const Entry* e = m.find(k)) actions.push_back(e);
  }
  const bool action_misspelt = m.was_suggested("cluster") || m.was_suggested("direct_response") ||
                               m.was_suggested("redirect");
  if (actions.empty() && !action_misspelt) {
    error(n, path, "a route needs one of 'cluster', 'direct_response' or 'redirect'");
  }
  for (size_t i = 1; i < actions.size(); ++i) {
    error(actions[i]->key_node.mark(), actions[i]->path,
          "'" + actions[i]->key + "' conflicts with '" + actions[0]->key +
              "': a route has exactly one of 'cluster', 'direct_response' or 'redirect'");
  }
  if (const Entry* e = m.find("cluster")) {
    if (auto c = name(e->value, e->path)) {
      r.cluster = *c;
      route_refs_.push_back(RouteRef{*c, Site{e->value.mark(), e->path}});
    }
  }
  if (const Entry* e = m.find("direct_response")) {
    const Map d = open_map(e->value, e->path, {"status", "body", "content_type"});
    DirectResponse dr;
    if (const Entry* x = d.find("status")) set(dr.status, integer(x->value, x->path, 200, 599));
    if (const Entry* x = d.find("body"))
      set(dr.body, string(x->value, x->path, /*allow_empty=*/true));
    if (const Entry* x = d.find("content_type")) set(dr.content_type, string(x->value, x->path));
    r.direct_response = std::move(dr);
  }
  if (const Entry* e = m.find("redirect")) {
    const Map d = open_map(e->value, e->path, {"location", "status"});
    Redirect rd;
    if (const Entry* x = need(d, "location")) set(rd.location, string(x->value, x->path));
    if (const Entry* x = d.find("status")) {
      if (auto s = integer(x->value, x->path, 300, 399)) {
        if (*s == 301 || *s == 302 || *s == 303 || *s == 307 || *s == 308) {
          rd.status = static_cast<int>(*s);
        } else {
          error(x->value, x->path,
                "redirect status " + std::to_string(*s) + " is not one of 301, 302, 303, 307, 308");
        }
      }
    }
    r.redirect = std::move(rd);
  }
  if (const Entry* e = m.find("timeout")) set(r.timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("idle_timeout")) set(r.idle_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("retry")) {
    RetryPolicy p;
    retry(*e, p);
    r.retry = std::move(p);
  }
  if (const Entry* e = m.find("fault")) {
    fault(*e, r.fault.emplace());
    if (!actions.empty() && !m.find("cluster")) {
      error(e->key_node.mark(), e->path,
            "fault applies to routes that forward to a cluster, not to '" + actions[0]->key + "'");
    }
  }
}

void Loader::match(const Entry& e, RouteMatch& rm) {
  const Map m =
      open_map(e.value, e.path, {"path", "path_prefix", "path_regex", "host", "method", "headers"});
  if (!m.ok) return;
  std::vector<const Entry*> paths;
  for (std::string_view k : {"path", "path_prefix", "path_regex"}) {
    if (const Entry* x = m.find(k)) paths.push_back(x);
  }
  for (size_t i = 1; i < paths.size(); ++i) {
    error(paths[i]->key_node.mark(), paths[i]->path,
          "'" + paths[i]->key + "' conflicts with '" + paths[0]->key +
              "': use one of 'path', 'path_prefix' or 'path_regex'");
  }
  for (std::string_view k : {"path", "path_prefix"}) {
    const Entry* x = m.find(k);
    if (x == nullptr) continue;
    auto s = string(x->value, x->path);
    if (!s) continue;
    if (s->front() != '/') {
      error(x->value, x->path, std::string(k) + " must start with '/', got '" + truncate(*s) + "'");
      continue;
    }
    (k == "path" ? rm.path : rm.path_prefix) = *s;
  }
  if (const Entry* x = m.find("path_regex")) {
    if (auto s = string(x->value, x->path); s && regex(x->value, x->path, *s)) rm.path_regex = *s;
  }
  if (const Entry* x = m.find("host")) {
    if (auto s = string(x->value, x->path)) {
      std::string_view rest = *s;
      if (rest.starts_with("*.")) rest.remove_prefix(2);
      const bool good = !rest.empty() && std::all_of(rest.begin(), rest.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
      });
      if (good) {
        rm.host = to_lower(*s);
      } else {
        error(x->value, x->path,
              "expected a host name such as api.example.com or *.example.com (no port), got '" +
                  truncate(*s) + "'");
      }
    }
  }
  if (const Entry* x = m.find("method")) {
    auto one = [&](const Node& node, const std::string& p) {
      auto s = scalar(node, p, "an HTTP method such as GET, or a list of them");
      if (!s) return;
      if (!is_token(*s)) {
        expected(node, p, "an HTTP method such as GET");
      } else if (to_upper(*s) != *s) {
        error(
            node, p,
            "HTTP methods are case-sensitive: '" + *s + "' (did you mean '" + to_upper(*s) + "'?)");
      } else {
        rm.methods.push_back(*s);
      }
    };
    if (x->value.is_sequence()) {
      size_t i = 0;
      for (const Node& each : x->value.items()) one(each, item(x->path, i++));
    } else {
      one(x->value, x->path);
    }
  }
  if (const Entry* x = m.find("headers"); x && is_list(x->value, x->path, "header matches")) {
    size_t i = 0;
    for (const Node& each : x->value.items()) {
      HeaderMatch h;
      header_match(each, item(x->path, i++), h);
      rm.headers.push_back(std::move(h));
    }
  }
}

void Loader::header_match(const Node& n, const std::string& path, HeaderMatch& h) {
  const Map m = open_map(n, path, {"name", "exact", "regex", "present"});
  if (!m.ok) return;
  if (const Entry* e = need(m, "name")) {
    if (auto s = string(e->value, e->path)) {
      if (is_token(*s)) {
        h.name = to_lower(*s);
      } else {
        error(e->value, e->path, "invalid header name '" + truncate(*s) + "'");
      }
    }
  }
  std::vector<const Entry*> kinds;
  for (std::string_view k : {"exact", "regex", "present"}) {
    if (const Entry* e = m.find(k)) kinds.push_back(e);
  }
  const bool kind_misspelt =
      m.was_suggested("exact") || m.was_suggested("regex") || m.was_suggested("present");
  if (kinds.empty() && !kind_misspelt)
    error(n, path, "a header match needs one of 'exact', 'regex' or 'present'");
  for (size_t i = 1; i < kinds.size(); ++i) {
    error(kinds[i]->key_node.mark(), kinds[i]->path,
          "'" + kinds[i]->key + "' conflicts with '" + kinds[0]->key +
              "': use one of 'exact', 'regex' or 'present'");
  }
  if (const Entry* e = m.find("exact"))
    set(h.exact, string(e->value, e->path, /*allow_empty=*/true));
  if (const Entry* e = m.find("regex")) {
    if (auto s = string(e->value, e->path); s && regex(e->value, e->path, *s)) h.regex = *s;
  }
  if (const Entry* e = m.find("present")) {
    if (auto b = boolean(e->value, e->path)) {
      if (*b) {
        h.present = true;
      } else {
        error(e->value, e->path, "present: false is not supported; omit the header match instead");
      }
    }
  }
}

void Loader::retry(const Entry& e, RetryPolicy& p) {
  const Map m = open_map(e.value, e.path, {"attempts", "per_try_timeout", "retry_on", "backoff", "non_idempotent"});
  if (!m.ok) return;
  if (const Entry* x = m.find("attempts")) {
    set(p.attempts, std::optional<int>(integer(x->value, x->path, 1, 10)));
  }
  if (const Entry* x = m.find("per_try_timeout"))
    set(p.per_try_timeout, duration(x->value, x->path));
  if (const Entry* x = m.find("retry_on"); x && is_list(x->value, x->path, "retry conditions")) {
    const Keys kConditions = {"connect-failure", "refused",       "reset",        "timeout",
                              "5xx",             "gateway-error", "retriable-4xx"};
    size_t i = 0;
    for (const Node& each : x->value.items()) {
      const std::string path = item(x->path, i++);
      auto s = scalar(each, path, "a retry condition");
      if (!s) continue;
      const bool status = all_digits(*s) && s->size() == 3 && (*s)[0] >= '4' && (*s)[0] <= '5';
      if (status || std::find(kConditions.begin(), kConditions.end(), *s) != kConditions.end()) {
        p.retry_on.push_back(*s);
      } else {
        error(each, path,
              "unknown retry condition '" + truncate(*s) + "'" +
                  hint(did_you_mean(*s, kConditions)) + "; expected one of: " + join(kConditions) +
                  " or a status code 400-599");
      }
    }
  }
  if (const Entry* x = m.find("non_idempotent")) set(p.non_idempotent, boolean(x->value, x->path));
  if (const Entry* x = m.find("backoff")) {
    const Map b = open_map(x->value, x->path, {"base", "max"});
    const Entry* base = b.find("base");
    const Entry* max = b.find("max");
    if (base) set(p.backoff_base, duration(base->value, base->path));
    if (max) set(p.backoff_max, duration(max->value, max->path));
    if (b.ok && p.backoff_base > p.backoff_max) {
      error(max ? max->value : base->value, max ? max->path : base->path,
            "backoff max (" + std::to_string(p.backoff_max.count()) + "ms) is below base (" +
                std::to_string(p.backoff_base.count()) + "ms)");
    }
  }
}

void Loader::fault(const Entry& e, Fault& f) {
  const Map m = open_map(e.value, e.path, {"delay", "abort", "reset", "throttle"});
  if (!m.ok) return;
  // Every field is required within its part: a fault is deliberate, so nothing is guessed.
  if (const Entry* x = m.find("delay")) {
    const Map d = open_map(x->value, x->path, {"percent", "duration"});
    FaultDelay& delay = f.delay.emplace();
    if (const Entry* y = need(d, "percent")) set(delay.percent, percent(y->value, y->path));
    if (const Entry* y = need(d, "duration")) set(delay.duration, latency(y->value, y->path));
  }
  if (const Entry* x = m.find("abort")) {
    const Map d = open_map(x->value, x->path, {"percent", "status"});
    FaultAbort& abort = f.abort.emplace();
    if (const Entry* y = need(d, "percent")) set(abort.percent, percent(y->value, y->path));
    if (const Entry* y = need(d, "status")) {
      set(abort.status, std::optional<int>(integer(y->value, y->path, 200, 599)));
    }
  }
  if (const Entry* x = m.find("reset")) {
    const Map d = open_map(x->value, x->path, {"percent"});
    FaultReset& reset = f.reset.emplace();
    if (const Entry* y = need(d, "percent")) set(reset.percent, percent(y->value, y->path));
  }
  if (const Entry* x = m.find("throttle")) {
    const Map d = open_map(x->value, x->path, {"percent", "bytes_per_second"});
    FaultThrottle& throttle = f.throttle.emplace();
    if (const Entry* y = need(d, "percent")) set(throttle.percent, percent(y->value, y->path));
    if (const Entry* y = need(d, "bytes_per_second")) {
      set(throttle.bytes_per_second, size(y->value, y->path, 1, uint64_t{1} << 40));
    }
  }
}

// A fault delay: one duration ("200ms", with the duration's own hints) or a distribution
// ("10ms-50ms", "exp:20ms"), at most 10m either way.
std::optional<LatencyDist> Loader::latency(const Node& n, const std::string& path) {
  constexpr std::string_view kWhat = "a duration such as 200ms or a distribution such as "
                                     "10ms-50ms or exp:20ms";
  auto s = scalar(n, path, kWhat);
  if (!s) return std::nullopt;
  if (!is_latency_distribution(*s)) {
    auto d = duration(n, path);
    if (!d) return std::nullopt;
    if (d->count() > kMaxLatencyMs) {
      error(n, path, "delay '" + *s + "' is above the 10m limit");
      return std::nullopt;
    }
    return LatencyDist{LatencyDist::Kind::kFixed, d->count(), 0};
  }
  auto d = parse_latency(*s);
  if (!d) error(n, path, "expected " + std::string(kWhat) + " (each at most 10m), got " + describe(n));
  return d;
}

}  // namespace cw::config::detail
