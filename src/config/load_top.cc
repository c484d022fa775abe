// The top level of the config: workers, admin, access_log, drain_timeout, registry, dns, and
// the order in which the sections are read.
#include "config/loader.h"
#include "config/net.h"

namespace cw::config::detail {

namespace {

// What the DNS server can be authoritative for: lower-case labels as registry names are.
bool is_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      if (label == 0 || label > 63 || d[i - 1] == '-' || d[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = d[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    ++label;
  }
  return true;
}

}  // namespace

void Loader::top(const Node& root, Config& c) {
  const Map m = open_map(root, "",
                         {"workers", "admin", "access_log", "drain_timeout", "listeners",
                          "clusters", "registry", "dns"});
  if (!m.ok) return;
  if (const Entry* e = m.find("workers")) workers(*e, c);
  if (const Entry* e = m.find("admin")) {
    const Map a = open_map(e->value, e->path, {"listen"});
    if (const Entry* l = need(a, "listen")) {
      set(c.admin.listen, address(l->value, l->path, /*listen=*/true));
      admin_site_ = Site{l->value.mark(), l->path};
    }
  }
  if (const Entry* e = m.find("access_log")) {
    const Map a = open_map(e->value, e->path, {"path", "format"});
    AccessLog log;
    if (const Entry* p = need(a, "path", " (stderr, stdout or a file path)")) {
      set(log.path, string(p->value, p->path));
    }
    if (const Entry* f = a.find("format"))
      set(log.format, choice(f->value, f->path, {"json", "text"}, "format"));
    if (a.ok) c.access_log = std::move(log);
  }
  if (const Entry* e = m.find("drain_timeout")) {
    set(c.drain_timeout, duration(e->value, e->path, /*allow_zero=*/true));
  }
  if (const Entry* e = m.find("registry")) registry(*e, c.registry.emplace());
  if (const Entry* e = m.find("dns")) dns(*e, c.dns.emplace());
  // Clusters first so that route references can be checked in one pass afterwards.
  if (const Entry* e = m.find("clusters")) list(*e, "clusters", &Loader::cluster, c.clusters);
  if (const Entry* e = m.find("listeners")) {
    list(*e, "listeners", &Loader::listener, c.listeners);
  }
  cross_check(c);
}

template <class T>
void Loader::list(const Entry& e, std::string_view what,
                  void (Loader::*read)(const Node&, const std::string&, T&), std::vector<T>& out) {
  if (!is_list(e.value, e.path, what)) return;
  out.reserve(e.value.size());  // exact: no doubling of large lists
  size_t i = 0;
  for (const Node& each : e.value.items()) {
    T t;
    (this->*read)(each, item(e.path, i++), t);
    out.push_back(std::move(t));
  }
}

void Loader::workers(const Entry& e, Config& c) {
  constexpr std::string_view kWhat = "an integer between 1 and 1024 or 'auto'";
  auto s = scalar(e.value, e.path, kWhat);
  if (!s) return;
  if (*s == "auto") {
    c.workers = 0;
    return;
  }
  if (!all_digits(*s)) {
    expected(e.value, e.path, kWhat);
    return;
  }
  set(c.workers, integer(e.value, e.path, 1, 1024));
}

void Loader::registry(const Entry& e, Registry& r) {
  const Map m = open_map(e.value, e.path, {"backend", "data_dir", "etcd"});
  if (!m.ok) return;
  if (const Entry* b = m.find("backend")) {
    set(r.backend, choice(b->value, b->path, {"embedded", "etcd"}, "backend"));
  }
  if (const Entry* d = m.find("data_dir")) set(r.data_dir, string(d->value, d->path));
  if (const Entry* et = m.find("etcd")) {
    const Map em = open_map(et->value, et->path, {"endpoints", "prefix"});
    if (const Entry* ep = em.find("endpoints"); ep && is_list(ep->value, ep->path, "strings")) {
      std::vector<std::string> list;
      size_t i = 0;
      for (const Node& node : ep->value.items()) {
        const std::string path = item(ep->path, i++);
        auto url = string(node, path);
        if (!url) continue;
        if (url->starts_with("https://")) {
          error(node, path, "TLS to etcd is not supported yet: use an http:// endpoint (etcd on "
                            "a private network or loopback), got '" + *url + "'");
        } else if (!url->starts_with("http://") || !parse_address(url->substr(7))) {
          error(node, path, "expected an etcd client URL http://IP:PORT (an IP literal, e.g. "
                            "http://127.0.0.1:2379 or http://[::1]:2379), got '" + *url + "'");
        }
        list.push_back(std::move(*url));
      }
      if (i == 0) {
        error(ep->value, ep->path,
              "expected at least one etcd endpoint, e.g. [http://127.0.0.1:2379]");
      }
      r.etcd.endpoints = std::move(list);
    }
    if (const Entry* p = em.find("prefix")) {
      set(r.etcd.prefix, string(p->value, p->path));
      if (r.etcd.prefix.size() < 2 || r.etcd.prefix.front() != '/' || r.etcd.prefix.back() != '/') {
        error(p->value, p->path, "expected a key prefix that starts and ends with '/', e.g. "
                                 "/causeway/ (causeways sharing a prefix share a registry), got '" +
                                     r.etcd.prefix + "'");
      }
    }
  }
}

void Loader::dns(const Entry& e, Dns& d) {
  const Map m = open_map(e.value, e.path, {"listen", "domain", "ttl", "recursors"});
  if (!m.ok) return;
  if (const Entry* l = m.find("listen")) set(d.listen, address(l->value, l->path, /*listen=*/true));
  if (const Entry* x = m.find("domain")) {
    set(d.domain, string(x->value, x->path));
    if (!is_domain(d.domain)) {
      error(x->value, x->path,
            "expected a domain name of lower-case labels ([a-z0-9-], 1-63 each, dot-separated), "
            "got '" + d.domain + "'");
    }
  }
  if (const Entry* t = m.find("ttl")) set(d.ttl, duration(t->value, t->path, /*allow_zero=*/true));
  if (const Entry* r = m.find("recursors"); r && is_list(r->value, r->path, "addresses")) {
    size_t i = 0;
    for (const Node& each : r->value.items()) {
      const std::string path = item(r->path, i++);
      // "8.8.8.8" (port 53) or "8.8.8.8:53".
      if (each.is_scalar() && each.scalar().find('/') == std::string_view::npos) {
        if (auto ip = parse_cidr(each.scalar())) {
          const std::string s(each.scalar());
          if (auto a = parse_address(ip->v6 ? "[" + s + "]:53" : s + ":53")) {
            d.recursors.push_back(std::move(*a));
            continue;
          }
        }
      }
      if (auto a = address(each, path, /*listen=*/false)) d.recursors.push_back(std::move(*a));
    }
  }
}

}  // namespace cw::config::detail
