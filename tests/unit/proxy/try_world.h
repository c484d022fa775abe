// What a try needs around it in the proxy's unit tests: a loop on a ManualClock, the fake
// connector and downstream, a cluster's stats and view, one request head and its forwarding
// transform. Fixtures derive from it (attempt_test, breaker_test); members are declared before
// the fixtures' own, so everything a try points at outlives it.
// Thread contract: test thread only.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "fakes.h"
#include "proxy/request_headers.h"
#include "runtime/clock.h"
#include "upstream/cluster.h"

namespace cw::proxy::testing {

struct TryWorld {
  rt::ManualClock clock_;
  rt::EventLoop loop_{&clock_};
  BufferPool buffers_;
  FakeConnector connector_{loop_};
  FakeDownstream down_;
  upstream::ClusterStats stats_;
  std::mutex mu_;
  std::shared_ptr<const upstream::ClusterSnapshot> snap_;
  std::unique_ptr<upstream::WorkerCluster> cluster_;
  upstream::LbContext lb_;
  http::RequestHead req_;
  ForwardedFor fwd_{"192.0.2.1", false, "http", "api"};
  const std::string trace_ = std::string(32, 'a');
  const std::string span_ = std::string(16, 'b');
  std::optional<ForwardTransform> transform_;
};

}  // namespace cw::proxy::testing
