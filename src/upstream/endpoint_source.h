// EndpointSource: what discovery implements (static config today; the registry and DNS later):
// one cluster's endpoint set, and a call to its owner each time that set changes.
// Thread contract: sources live on the control thread; start(), stop(), current(), watch(),
// publish() and the change callback all run there. Workers never see a source, only the
// ClusterSnapshots the control thread builds from its sets and posts to them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/event_loop.h"
#include "runtime/socket_address.h"

namespace cw::upstream {

// One endpoint as discovery reports it. `key` is its identity across updates: per-host state,
// pools and stats follow the key. Conventionally the address text, "10.0.0.1:8080".
struct Endpoint {
  std::string key;
  rt::SocketAddress address;
  uint32_t weight = 1;  // >= 1
};

bool same_address(const rt::SocketAddress& a, const rt::SocketAddress& b);
// Same key, address and weight.
bool same_endpoint(const Endpoint& a, const Endpoint& b);

// An immutable endpoint set. `version` grows by one with each change its source publishes
// (0: nothing known yet), so an owner can tell a new set from one it has applied.
struct EndpointSet {
  uint64_t version = 0;
  std::vector<Endpoint> endpoints;
};

// An empty string when the endpoints can make a cluster, else what is wrong (duplicate key,
// weight 0, empty key), naming the endpoint. O(n).
std::string check_endpoints(const std::vector<Endpoint>& endpoints);

// Push with a version: a registry watch and a DNS refresh timer both end in publish(), which
// drops a set equal to the current one, so only real changes reach the workers.
class EndpointSource {
 public:
  using OnChange = std::function<void(std::shared_ptr<const EndpointSet>)>;

  EndpointSource();
  virtual ~EndpointSource();
  EndpointSource(const EndpointSource&) = delete;
  EndpointSource& operator=(const EndpointSource&) = delete;

  virtual std::string_view kind() const = 0;  // "static", "registry", "dns": for logs and the API
  // Begins producing sets on the control loop (subscribe to a registry watch, arm a TTL refresh
  // timer). A source that knows its set at construction (static) does nothing here.
  virtual void start(rt::EventLoop& control) = 0;
  // Ends it: no publish, no callback after stop() returns.
  virtual void stop() = 0;

  // The latest set; version 0 and empty until the source knows anything (a DNS name before its
  // first answer). Never null.
  const std::shared_ptr<const EndpointSet>& current() const { return current_; }
  // Who to tell (one owner): called from publish(), after current() changed.
  void watch(OnChange on_change) { on_change_ = std::move(on_change); }

 protected:
  // What an implementation calls when it learns a set. A set equal to the current one (same
  // endpoints in any order: DNS rotates its answers) changes nothing and returns false; a set
  // check_endpoints() refuses leaves the current one in place, sets `error` and returns false;
  // otherwise it becomes current with version + 1, the owner is called, and it returns true.
  bool publish(std::vector<Endpoint> endpoints, std::string& error);

 private:
  std::shared_ptr<const EndpointSet> current_;
  OnChange on_change_;
};

}  // namespace cw::upstream
