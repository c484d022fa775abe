// Router: a listener's routes compiled once per config snapshot (RE2 programs built off the
// request path); match() picks the first route whose every condition holds.
// Thread contract: immutable after construction; any worker may call match().
#pragma once

#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "http/message.h"
#include "proxy/retry_policy.h"

namespace cw::proxy {

struct CompiledRoute {
  std::string name;
  int index = 0;  // position in the listener's route list
  config::Route cfg;
  RetryRules retry;  // cfg.retry compiled (or the default when the route has none)
  int cluster = -1;  // index into ProxySnapshot::clusters, or -1 (direct response / redirect)
  std::unique_ptr<re2::RE2> path_re;
  std::vector<std::unique_ptr<re2::RE2>> header_res;  // parallel to cfg.match.headers
  std::string host_suffix;                            // for "*.example.com": ".example.com"
};

class Router {
 public:
  // cluster_index maps a cluster name to its index; unknown names were refused at load.
  Router(const config::Listener& listener, const std::vector<std::string>& cluster_names);
  const CompiledRoute* match(const http::RequestHead& req) const;
  const std::vector<std::unique_ptr<CompiledRoute>>& routes() const { return routes_; }

 private:
  std::vector<std::unique_ptr<CompiledRoute>> routes_;
};

// Host header without the port, for matching ("Example.com:8080" -> "Example.com").
std::string_view host_without_port(std::string_view host);

}  // namespace cw::proxy
