// listeners[]: address, protocol, tls, access lists, timeouts, limits, and their routes.
#include "config/loader.h"

namespace cw::config::detail {

void Loader::listener(const Node& n, const std::string& path, Listener& l) {
  const Map m = open_map(
      n, path,
      {"name", "listen", "protocol", "tls", "access", "trusted_proxies", "header_read_timeout",
       "body_read_timeout", "idle_timeout", "max_header_bytes", "max_headers", "routes"});
  listener_name_sites_.push_back(Site{YAML::Mark::null_mark(), ""});
  listener_listen_sites_.push_back(Site{YAML::Mark::null_mark(), ""});
  if (!m.ok) return;
  if (const Entry* e = need(m, "name")) {
    set(l.name, name(e->value, e->path));
    listener_name_sites_.back() = Site{e->value.mark(), e->path};
  }
  if (const Entry* e = need(m, "listen")) {
    if (auto a = address(e->value, e->path, /*listen=*/true)) {
      l.listen = std::move(*a);
      listener_listen_sites_.back() = Site{e->value.mark(), e->path};
    }
  }
  if (const Entry* e = m.find("protocol")) {
    if (auto p = choice(e->value, e->path, {"http", "https", "tcp"}, "protocol")) {
      if (*p != "http") {
        error(e->value, e->path,
              "protocol '" + *p + "' is not supported yet (this version serves 'http')");
      }
      l.protocol = *p;
    }
  }
  if (const Entry* e = m.find("tls")) tls(*e, l.tls.emplace());
  if (const Entry* e = m.find("access")) {
    const Map a = open_map(e->value, e->path, {"allow", "deny"});
    if (const Entry* x = a.find("allow")) cidr_list(x->value, x->path, l.access.allow);
    if (const Entry* x = a.find("deny")) cidr_list(x->value, x->path, l.access.deny);
  }
  if (const Entry* e = m.find("trusted_proxies")) cidr_list(e->value, e->path, l.trusted_proxies);
  if (const Entry* e = m.find("header_read_timeout"))
    set(l.header_read_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("body_read_timeout"))
    set(l.body_read_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("idle_timeout")) set(l.idle_timeout, duration(e->value, e->path));
  if (const Entry* e = m.find("max_header_bytes")) {
    set(l.max_header_bytes, size(e->value, e->path, 1024, 1024 * 1024));
  }
  if (const Entry* e = m.find("max_headers"))
    set(l.max_headers, integer(e->value, e->path, 1, 10000));
  if (const Entry* e = need(m, "routes"); e && is_list(e->value, e->path, "routes")) {
    if (e->value.size() == 0) error(e->value, e->path, "a listener needs at least one route");
    l.routes.reserve(e->value.size());
    size_t i = 0;
    for (const Node& each : e->value.items()) {
      Route r;
      route(each, item(e->path, i), l.name, i, r);
      ++i;
      l.routes.push_back(std::move(r));
    }
    // Route names are unique within a listener (stats and traces name them).
    std::unordered_map<std::string_view, size_t> seen;
    seen.reserve(l.routes.size());
    for (size_t k = 0; k < l.routes.size(); ++k) {
      auto [it, fresh] = seen.emplace(l.routes[k].name, k);
      if (!fresh) {
        error(e->value.item(k), item(e->path, k),
              "duplicate route name '" + l.routes[k].name + "' (also " + item(e->path, it->second) +
                  ")");
      }
    }
  }
}

void Loader::tls(const Entry& e, Tls& t) {
  const Map m = open_map(e.value, e.path, {"certificates"});
  if (!m.ok) return;
  unapplied_.push_back(e.path);
  if (const Entry* c = need(m, "certificates"); c && is_list(c->value, c->path, "certificates")) {
    size_t i = 0;
    for (const Node& each : c->value.items()) {
      const Map cm = open_map(each, item(c->path, i++), {"cert", "key"});
      TlsCertificate cert;
      if (const Entry* x = need(cm, "cert")) set(cert.cert, string(x->value, x->path));
      if (const Entry* x = need(cm, "key")) set(cert.key, string(x->value, x->path));
      t.certificates.push_back(std::move(cert));
    }
  }
}

}  // namespace cw::config::detail
