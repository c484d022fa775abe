// Route compilation and matching. Thread contract: see router.h.
#include "proxy/router.h"

#include <algorithm>

namespace cw::proxy {

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

Router::Router(const config::Listener& listener, const std::vector<std::string>& cluster_names) {
  int idx = 0;
  for (const auto& r : listener.routes) {
    auto cr = std::make_unique<CompiledRoute>();
    cr->cfg = r;
    cr->retry = RetryRules::compile(r.retry ? &*r.retry : nullptr);
    cr->index = idx;
    cr->name = r.name.empty() ? listener.name + "/" + std::to_string(idx) : r.name;
    if (!r.cluster.empty()) {
      auto it = std::find(cluster_names.begin(), cluster_names.end(), r.cluster);
      if (it != cluster_names.end()) cr->cluster = int(it - cluster_names.begin());
    }
    if (r.match.path_regex) cr->path_re = std::make_unique<re2::RE2>(*r.match.path_regex);
    for (const auto& h : r.match.headers) {
      cr->header_res.push_back(h.regex ? std::make_unique<re2::RE2>(*h.regex) : nullptr);
    }
    if (r.match.host && r.match.host->rfind("*.", 0) == 0)
      cr->host_suffix = r.match.host->substr(1);
    routes_.push_back(std::move(cr));
    ++idx;
  }
}

static bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() > suffix.size() && http::iequals(s.substr(s.size() - suffix.size()), suffix);
}

const CompiledRoute* Router::match(const http::RequestHead& req) const {
  std::string_view path = req.path();
  for (const auto& rp : routes_) {
    const CompiledRoute& r = *rp;
    const config::RouteMatch& m = r.cfg.match;
    if (m.path && path != *m.path) continue;
    if (m.path_prefix && path.substr(0, m.path_prefix->size()) != *m.path_prefix) continue;
    if (r.path_re && !re2::RE2::FullMatch(re2::StringPiece(path.data(), path.size()), *r.path_re))
      continue;
    if (m.host) {
      std::string_view host = host_without_port(req.host);
      if (!r.host_suffix.empty() ? !ends_with_icase(host, r.host_suffix)
                                 : !http::iequals(host, *m.host))
        continue;
    }
    if (!m.methods.empty() &&
        std::find(m.methods.begin(), m.methods.end(), req.method) == m.methods.end())
      continue;
    bool headers_ok = true;
    for (size_t i = 0; i < m.headers.size() && headers_ok; ++i) {
      const auto& hm = m.headers[i];
      const std::string* v = req.headers.get(hm.name);
      if (!v) {
        headers_ok = false;
      } else if (hm.exact) {
        headers_ok = *v == *hm.exact;
      } else if (r.header_res[i]) {
        headers_ok = re2::RE2::FullMatch(*v, *r.header_res[i]);
      }
    }
    if (!headers_ok) continue;
    return &r;
  }
  return nullptr;
}

}  // namespace cw::proxy
