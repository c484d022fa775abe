// StaticSource: the endpoint source of a `discovery: static` cluster, its config's `endpoints`.
// Publishes once, at construction; a reload builds a new one. Thread contract: control thread
// (as every EndpointSource).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/model.h"
#include "upstream/endpoint_source.h"

namespace cw::upstream {

class StaticSource final : public EndpointSource {
 public:
  // Null with `error` set when an endpoint is not an IP literal and port, or the set is refused
  // by check_endpoints (the config loader already refuses both; this is the backstop).
  static std::unique_ptr<StaticSource> from_config(const config::Cluster& c, std::string& error);
  static std::unique_ptr<StaticSource> from_endpoints(std::vector<Endpoint> endpoints,
                                                      std::string& error);

  std::string_view kind() const override { return "static"; }
  void start(rt::EventLoop&) override {}
  void stop() override {}

 private:
  StaticSource() = default;
};

}  // namespace cw::upstream
