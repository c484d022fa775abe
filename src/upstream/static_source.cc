// StaticSource: config endpoints to an endpoint set. Thread contract: see static_source.h.
#include "upstream/static_source.h"

namespace cw::upstream {

std::unique_ptr<StaticSource> StaticSource::from_config(const config::Cluster& c,
                                                        std::string& error) {
  std::vector<Endpoint> endpoints;
  endpoints.reserve(c.endpoints.size());
  for (const auto& ep : c.endpoints) {
    auto addr = rt::SocketAddress::from_ip_port(ep.address.host, ep.address.port);
    if (!addr) {
      error = "cluster " + c.name + ": bad endpoint " + ep.address.text();
      return nullptr;
    }
    endpoints.push_back(Endpoint{ep.address.text(), *addr, ep.weight});
  }
  auto source = from_endpoints(std::move(endpoints), error);
  if (!source) error = "cluster " + c.name + ": " + error;
  return source;
}

std::unique_ptr<StaticSource> StaticSource::from_endpoints(std::vector<Endpoint> endpoints,
                                                           std::string& error) {
  std::unique_ptr<StaticSource> source(new StaticSource());
  // An empty set is a set too (version 1): a cluster with no endpoints answers 503.
  if (!source->publish(std::move(endpoints), error) && !error.empty()) return nullptr;
  return source;
}

}  // namespace cw::upstream
