// UpstreamConnector: how an attempt reaches a host. It opens new connections and starts the
// codec of one exchange on a connection. Production: TCP and HTTP/1 (tcp_connector());
// TLS and HTTP/2 are further implementations; unit tests script fakes (no sockets).
// Thread contract: used on one worker's thread; implementations keep no per-request state.
#pragma once

#include <memory>
#include <optional>

#include "base/result.h"
#include "proxy/h1_upstream.h"
#include "runtime/event_loop.h"
#include "runtime/stream.h"
#include "runtime/task.h"
#include "upstream/conn_pool.h"
#include "upstream/host.h"

namespace cw::proxy {

// Storage for one exchange's codec, inside the attempt: the HTTP/1 codec without allocation;
// any other codec on the heap.
struct CodecSlot {
  std::optional<H1Upstream> h1;
  std::unique_ptr<UpstreamCodec> other;
  void reset() {
    h1.reset();
    other.reset();
  }
};

class UpstreamConnector {
 public:
  virtual ~UpstreamConnector() = default;
  // Opens a connection to `host` within timeout_ms. Errors: connection_refused, timed_out, ...
  virtual rt::Task<Result<std::unique_ptr<rt::Stream>>> connect(rt::EventLoop& loop,
                                                                const upstream::Host& host,
                                                                int64_t timeout_ms) = 0;
  // Starts one exchange on `conn`; the codec lives in `slot` until the attempt ends.
  virtual UpstreamCodec& start(upstream::UpstreamConn& conn, const http::RequestHead& req,
                               BufferPool& buffers, CodecSlot& slot) = 0;
};

// Plain TCP connections speaking HTTP/1.1. Stateless; one instance serves every worker.
UpstreamConnector& tcp_connector();

}  // namespace cw::proxy
