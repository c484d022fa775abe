// EndpointSource: endpoint comparison, validation and publishing. Thread contract: see
// endpoint_source.h (control thread).
#include "upstream/endpoint_source.h"

#include <cstring>
#include <unordered_map>

namespace cw::upstream {

bool same_address(const rt::SocketAddress& a, const rt::SocketAddress& b) {
  // Both were built into zeroed storage, so padding compares equal too.
  return a.len() == b.len() && std::memcmp(a.sa(), b.sa(), a.len()) == 0;
}

bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return a.key == b.key && a.weight == b.weight && same_address(a.address, b.address);
}

std::string check_endpoints(const std::vector<Endpoint>& endpoints) {
  std::unordered_map<std::string_view, size_t> seen;
  seen.reserve(endpoints.size());
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const Endpoint& e = endpoints[i];
    const std::string where = "endpoint " + std::to_string(i) + " (" + e.key + ")";
    if (e.key.empty()) return where + ": empty key";
    if (e.weight == 0) return where + ": weight must be at least 1";
    if (e.address.len() == 0) return where + ": no address";
    auto [it, fresh] = seen.emplace(e.key, i);
    if (!fresh) return where + ": duplicate key (first at " + std::to_string(it->second) + ")";
  }
  return {};
}

namespace {

// Equal as sets: same size and every endpoint of `b` is in `a` with the same address and
// weight. Keys are unique in both (checked), so this is O(n).
bool same_set(const std::vector<Endpoint>& a, const std::vector<Endpoint>& b) {
  if (a.size() != b.size()) return false;
  std::unordered_map<std::string_view, const Endpoint*> by_key;
  by_key.reserve(a.size());
  for (const auto& e : a) by_key.emplace(e.key, &e);
  for (const auto& e : b) {
    auto it = by_key.find(e.key);
    if (it == by_key.end() || !same_endpoint(*it->second, e)) return false;
  }
  return true;
}

}  // namespace

EndpointSource::EndpointSource() : current_(std::make_shared<const EndpointSet>()) {}
EndpointSource::~EndpointSource() = default;

bool EndpointSource::publish(std::vector<Endpoint> endpoints, std::string& error) {
  error = check_endpoints(endpoints);
  if (!error.empty()) return false;
  if (current_->version > 0 && same_set(current_->endpoints, endpoints)) return false;
  auto next = std::make_shared<EndpointSet>();
  next->version = current_->version + 1;
  next->endpoints = std::move(endpoints);
  current_ = std::move(next);
  if (on_change_) on_change_(current_);
  return true;
}

}  // namespace cw::upstream
