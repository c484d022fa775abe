// Test helpers for cluster snapshots and worker clusters: numbered endpoints, endpoint sets,
// a cluster config, and timers fired by hand. Thread contract: single-threaded tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/model.h"
#include "runtime/clock.h"
#include "runtime/event_loop.h"
#include "upstream/endpoint_source.h"

namespace cw::upstream::testing {

// Endpoint i: 10.<i/65536>.<i/256%256>.<i%256>:port, keyed by its address text.
inline Endpoint endpoint(int i, uint32_t weight = 1, uint16_t port = 8080) {
  const std::string ip = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
                         "." + std::to_string(i % 256);
  auto addr = rt::SocketAddress::from_ip_port(ip, port);
  return Endpoint{addr->text(), *addr, weight};
}

inline EndpointSet endpoint_set(const std::vector<int>& ids, uint64_t version = 1) {
  EndpointSet set;
  set.version = version;
  for (int i : ids) set.endpoints.push_back(endpoint(i));
  return set;
}

inline std::vector<int> ids(int first, int count) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

inline config::Cluster cluster_config(const std::string& name, const std::string& lb,
                                      const std::vector<int>& endpoint_ids = {}) {
  config::Cluster c;
  c.name = name;
  c.lb = lb;
  for (int i : endpoint_ids) {
    const Endpoint e = endpoint(i);
    c.endpoints.push_back(config::Endpoint{config::Address{e.address.ip(), e.address.port()}, 1});
  }
  return c;
}

}  // namespace cw::upstream::testing
