// The registry endpoints: routing by path shape, query parsing, and awaiting durable changes
// and blocking queries. Thread contract: see registry_api.h.
#include "admin/registry_api.h"

#include <algorithm>
#include <charconv>
#include <coroutine>
#include <memory>
#include <optional>
#include <vector>

#include "admin/reply.h"
#include "config/units.h"

namespace cw::admin {
namespace {

using registry::Registry;
using registry::RegistryError;
using Response = AdminServer::Response;

constexpr std::string_view kPrefix = "/api/v1/services";

Response with_index(Response r, uint64_t index) {
  r.headers.emplace_back("X-Causeway-Index", std::to_string(index));
  return r;
}

Response invalid(std::string_view field, std::string_view detail, uint64_t index) {
  return with_index(error_reply(400, "invalid_instance",
                                {{"field", std::string(field)}, {"detail", std::string(detail)}}),
                    index);
}

Response bad_query(std::string_view field, std::string_view detail, uint64_t index) {
  return with_index(error_reply(400, "bad_query",
                                {{"field", std::string(field)}, {"detail", std::string(detail)}}),
                    index);
}

Response not_allowed(std::string_view method, std::string_view path,
                     std::initializer_list<std::string_view> allowed) {
  Json allow = Json::array();
  std::string header;
  for (std::string_view m : allowed) {
    allow.push_back(m);
    if (!header.empty()) header += ", ";
    header += m;
  }
  Response r = error_reply(405, "method_not_allowed", {{"method", std::string(method)},
                                                       {"path", std::string(path)},
                                                       {"allow", std::move(allow)}});
  r.headers.emplace_back("Allow", header);
  return r;
}

Response from_error(const RegistryError& e, uint64_t index) {
  switch (e.code) {
    case RegistryError::Code::kNotFound:
      return with_index(error_reply(404, "not_found", {{"detail", e.detail}}), index);
    case RegistryError::Code::kNotTtl:
      return with_index(error_reply(400, "not_ttl_check", {{"detail", e.detail}}), index);
    case RegistryError::Code::kStore:
      return with_index(error_reply(503, "registry_unavailable",
                                    {{"detail", "the store could not write: " + e.detail}}),
                        index);
    case RegistryError::Code::kUnknown:
      return with_index(error_reply(504, "registry_timeout", {{"detail", e.detail}}), index);
    case RegistryError::Code::kUnavailable:
    case RegistryError::Code::kClosed:
      break;
  }
  return with_index(error_reply(503, "registry_unavailable", {{"detail", e.detail}}), index);
}

// ---- query string ----

struct Query {
  std::optional<uint64_t> index;
  std::optional<int64_t> wait_ms;
  bool healthy = false;
  std::string tag;
};

std::string_view param(std::string_view query, std::string_view key, bool& present) {
  present = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) != key) continue;
    present = true;
    return eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1);
  }
  return {};
}

// The parameters a read understands; anything malformed is an error naming it.
std::optional<Response> parse_query(std::string_view query, Query& q, uint64_t index) {
  bool has = false;
  std::string_view v = param(query, "index", has);
  if (has) {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
      return bad_query("index", "must be a non-negative integer, the X-Causeway-Index of an "
                                "earlier answer", index);
    }
    q.index = n;
  }
  v = param(query, "wait", has);
  if (has) {
    auto d = config::parse_duration(v);
    if (!d) return bad_query("wait", "must be a duration such as 30s, 500ms or 5m", index);
    q.wait_ms = d->count();
  }
  v = param(query, "healthy", has);
  if (has) {
    if (v.empty() || v == "1" || v == "true") q.healthy = true;
    else if (v == "0" || v == "false") q.healthy = false;
    else return bad_query("healthy", "must be 1, true, 0 or false", index);
  }
  v = param(query, "tag", has);
  if (has) {
    if (!registry::is_label(v)) return bad_query("tag", registry::label_problem(v), index);
    q.tag = std::string(v);
  }
  return std::nullopt;
}

// ---- awaiting a durable change ----

struct Pending {
  rt::EventLoop* loop = nullptr;
  std::optional<Result<uint64_t, RegistryError>> result;
  std::coroutine_handle<> h;
};

// Holds a plain pointer: g++ 12 may destroy a co_await operand's temporary twice, so awaiters
// here have trivial destructors (the coroutine's own shared_ptr keeps the state alive).
struct AwaitChange {
  Pending* p;
  bool await_ready() const noexcept { return p->result.has_value(); }
  void await_suspend(std::coroutine_handle<> h) { p->h = h; }
  Result<uint64_t, RegistryError> await_resume() { return std::move(*p->result); }
};

Registry::Done completion(const std::shared_ptr<Pending>& p) {
  return [p](Result<uint64_t, RegistryError> r) {
    p->result = std::move(r);
    if (p->h) p->loop->defer(std::exchange(p->h, nullptr));
  };
}

// ---- bodies ----

// A shared registry says whether this answer may be behind the shared store, and since when:
// readers keep being served the last known state while the store is unreachable.
void add_staleness(const Registry& reg, Json& out) {
  out["backend"] = reg.backend();
  if (!reg.mirrored()) return;
  out["stale"] = reg.stale();
  if (reg.stale()) {
    out["stale_for_ms"] = std::max<int64_t>(0, reg.loop().now_ms() - reg.stale_since_ms());
    out["stale_reason"] = reg.stale_reason();
  }
}

Json service_json(const Registry& reg, std::string_view name, const Query& q) {
  Json list = Json::array();
  if (const registry::Service* s = reg.find(name)) {
    for (const auto& [id, e] : s->instances) {
      if (q.healthy && !e->serving()) continue;
      if (!q.tag.empty() &&
          std::find(e->inst.tags.begin(), e->inst.tags.end(), q.tag) == e->inst.tags.end()) {
        continue;
      }
      list.push_back(registry_instance_json(*e));
    }
  }
  Json out{{"service", std::string(name)},
           {"index", reg.service_index(name)},
           {"instances", std::move(list)}};
  add_staleness(reg, out);
  return out;
}

Json services_json(const Registry& reg) {
  Json list = Json::array();
  for (const auto& [name, s] : reg.services()) {
    if (s.instances.empty()) continue;  // a tombstone: kept for its index, not listed
    size_t serving = 0;
    std::vector<std::string> tags;
    for (const auto& [id, e] : s.instances) {
      serving += e->serving();
      for (const auto& t : e->inst.tags) {
        if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
      }
    }
    std::sort(tags.begin(), tags.end());
    list.push_back(Json{{"name", name},
                        {"instances", s.instances.size()},
                        {"passing", serving},
                        {"tags", tags},
                        {"index", s.index}});
  }
  Json out{{"index", reg.index()}, {"services", std::move(list)}};
  add_staleness(reg, out);
  return out;
}

// Path segments under /api/v1/services: {service}, {service}/instances/{id}[/heartbeat].
std::vector<std::string_view> segments(std::string_view rest) {
  std::vector<std::string_view> out;
  while (!rest.empty()) {
    if (rest.front() != '/') return {};
    rest.remove_prefix(1);
    const size_t slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  return out;
}

}  // namespace

bool is_registry_path(std::string_view path) {
  return path == kPrefix || (path.size() > kPrefix.size() && path.starts_with(kPrefix) &&
                             path[kPrefix.size()] == '/');
}

Json registry_instance_json(const registry::Entry& e) {
  Json j = Json(registry::instance_json(e.inst));
  j["health"] = registry::health_name(e.health);
  j["health_detail"] = e.health_detail;
  j["ejected"] = e.ejected;
  j["serving"] = e.serving();
  j["create_index"] = e.create_index;
  j["modify_index"] = e.modify_index;
  if (e.last_heartbeat_unix_ms) j["last_heartbeat_unix_ms"] = e.last_heartbeat_unix_ms;
  return j;
}

rt::Task<Response> registry_api(Registry* reg, std::string_view method, std::string_view target,
                                std::string_view body) {
  const size_t qmark = target.find('?');
  const std::string_view path = target.substr(0, qmark);
  const std::string_view query =
      qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1);
  if (!reg) {
    co_return error_reply(404, "registry_disabled",
                          {{"detail", "this causeway has no registry: add a `registry:` section "
                                      "to the config"}});
  }
  const bool read = method == "GET" || method == "HEAD";
  const auto seg = segments(path.substr(kPrefix.size()));
  const uint64_t now = reg->index();

  // GET /api/v1/services
  if (path == kPrefix) {
    if (!read) co_return not_allowed(method, path, {"GET", "HEAD"});
    Query q;
    if (auto bad = parse_query(query, q, now)) co_return std::move(*bad);
    if (q.index) {
      auto parked = reg->wait("", *q.index, reg->wait_ms_for(q.wait_ms));  // named: see above
      co_await parked;
    }
    co_return with_index(json_reply(200, services_json(*reg)), reg->index());
  }
  if (seg.empty() || seg.size() == 2 || seg.size() > 4 || (seg.size() >= 3 && seg[1] != "instances") ||
      (seg.size() == 4 && seg[3] != "heartbeat")) {
    co_return error_reply(404, "not_found",
                          {{"path", std::string(path)},
                           {"detail", "registry paths: /api/v1/services, /api/v1/services/{service},"
                                      " /api/v1/services/{service}/instances/{id}[/heartbeat]"}});
  }
  const std::string service(seg[0]);
  if (auto p = registry::label_problem(service); !p.empty()) {
    co_return invalid("service", "the service name " + p, now);
  }

  // GET /api/v1/services/{service}
  if (seg.size() == 1) {
    if (!read) co_return not_allowed(method, path, {"GET", "HEAD"});
    Query q;
    if (auto bad = parse_query(query, q, now)) co_return std::move(*bad);
    if (q.index) {
      auto parked = reg->wait(service, *q.index, reg->wait_ms_for(q.wait_ms));
      co_await parked;
    }
    co_return with_index(json_reply(200, service_json(*reg, service, q)),
                         reg->service_index(service));
  }

  const std::string id(seg[2]);
  if (auto p = registry::label_problem(id); !p.empty()) {
    co_return invalid("id", "the instance id " + p, now);
  }

  // PUT /api/v1/services/{service}/instances/{id}/heartbeat
  if (seg.size() == 4) {
    if (method != "PUT") co_return not_allowed(method, path, {"PUT"});
    auto beat = std::make_shared<Pending>();
    beat->loop = &reg->loop();
    reg->heartbeat(service, id, completion(beat));
    auto r = co_await AwaitChange{beat.get()};
    if (!r) co_return from_error(r.error(), reg->index());
    std::string_view health = "unknown";
    if (const registry::Service* s = reg->find(service)) {
      if (auto it = s->instances.find(id); it != s->instances.end()) {
        health = registry::health_name(it->second->health);
      }
    }
    co_return with_index(json_reply(200, {{"index", *r}, {"health", health}}), *r);
  }

  // /api/v1/services/{service}/instances/{id}
  if (read) {
    const registry::Entry* e = nullptr;
    if (const registry::Service* s = reg->find(service)) {
      if (auto it = s->instances.find(id); it != s->instances.end()) e = it->second.get();
    }
    if (!e) {
      co_return with_index(
          error_reply(404, "not_found", {{"detail", "no instance " + id + " in service " + service}}),
          now);
    }
    co_return with_index(json_reply(200, registry_instance_json(*e)), now);
  }
  auto pending = std::make_shared<Pending>();
  pending->loop = &reg->loop();
  if (method == "PUT") {
    auto inst = registry::parse_instance(service, id, body);
    if (!inst) co_return invalid(inst.error().field, inst.error().message, now);
    reg->put(std::move(*inst), completion(pending));
  } else if (method == "DELETE") {
    reg->remove(service, id, completion(pending));
  } else {
    co_return not_allowed(method, path, {"GET", "HEAD", "PUT", "DELETE"});
  }
  auto r = co_await AwaitChange{pending.get()};
  if (!r) co_return from_error(r.error(), reg->index());
  if (method == "DELETE") {
    co_return with_index(json_reply(200, {{"index", *r}, {"deregistered", id}}), *r);
  }
  Json out{{"index", *r}};
  if (const registry::Service* s = reg->find(service)) {
    if (auto it = s->instances.find(id); it != s->instances.end()) {
      out["instance"] = registry_instance_json(*it->second);
    }
  }
  co_return with_index(json_reply(200, out), *r);
}

}  // namespace cw::admin
