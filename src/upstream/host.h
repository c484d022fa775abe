// Host: one upstream endpoint of a cluster. Identity is immutable; health and ejection are
// atomics a control thread publishes (health checks, discovery, outlier ejection) and workers
// read on every pick. Thread contract: identity any thread; atomics relaxed, any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/socket_address.h"

namespace cw::upstream {

struct Host {
  std::string key;           // "127.0.0.1:9001", the identity across snapshots
  rt::SocketAddress address;
  uint32_t weight = 1;

  // Published by the control plane. Health checks (a later issue) flip `healthy`.
  std::atomic<bool> healthy{true};

  Host(std::string k, rt::SocketAddress a, uint32_t w) : key(std::move(k)), address(a), weight(w) {}
};

using HostPtr = std::shared_ptr<Host>;

}  // namespace cw::upstream
