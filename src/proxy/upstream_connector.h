// UpstreamConnector: how an attempt reaches a host. It opens new connections and starts the
// codec of one exchange on a connection. Production: TCP and HTTP/1 (tcp_connector());
// TLS and HTTP/2 are further implementations; unit tests script fakes (no sockets).
// Thread contract: used on one worker's thread; implementations keep no per-request state.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "base/result.h"
#include "proxy/h1_upstream.h"
#include "runtime/event_loop.h"
#include "runtime/stream.h"
#include "runtime/task.h"
#include "upstream/conn_pool.h"
#include "upstream/host.h"

namespace cw::proxy {

// A codec call as the attempt awaits it: the HTTP/1 codec's plain awaiter (`Fast`, built in
// place), or any other codec's virtual call (a Task). Every request makes these calls, and a
// coroutine frame each would cost more than the rest of the call.
template <class Fast, class T>
class [[nodiscard]] CodecCall {
 public:
  template <class... A>
  explicit CodecCall(std::in_place_t, A&&... args) {
    fast_.emplace(std::forward<A>(args)...);
  }
  explicit CodecCall(rt::Task<T> task) : task_(std::move(task)) {}
  bool await_ready() { return fast_ ? fast_->await_ready() : task_.await_ready(); }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!fast_) return task_.await_suspend(h);
    fast_->await_suspend(h);
    return true;
  }
  T await_resume() { return fast_ ? fast_->await_resume() : task_.await_resume(); }

 private:
  std::optional<Fast> fast_;
  rt::Task<T> task_;
};

// Storage for one exchange's codec, inside the attempt: the HTTP/1 codec without allocation;
// any other codec on the heap.
struct CodecSlot {
  std::optional<H1Upstream> h1;
  std::unique_ptr<UpstreamCodec> other;
  void reset() {
    h1.reset();
    other.reset();
  }

  // UpstreamCodec::send_head and read_head of the codec in this slot, without a coroutine
  // frame when it is the HTTP/1 one.
  using SendCall = CodecCall<rt::detail::WriteAwaiter, Result<void>>;
  using HeadCall = CodecCall<H1Upstream::HeadRead, Result<void>>;
  SendCall send_head(const http::RequestHead& head, const http::HeaderTransform& transform,
                     const http::BodyFraming& framing, std::string_view body, bool end,
                     int64_t deadline) {
    if (!h1) return SendCall(other->send_head(head, transform, framing, body, end, deadline));
    iovec iov[4];
    const int n = h1->frame_head(head, transform, framing, body, end, iov);
    return SendCall(std::in_place, h1->stream(), iov, n, deadline);
  }
  HeadCall read_head(http::ResponseHead& out, int64_t deadline) {
    if (!h1) return HeadCall(other->read_head(out, deadline));
    return HeadCall(std::in_place, *h1, out, deadline);
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
