// H1Upstream: the HTTP/1.1 UpstreamCodec. Writes the request head with the h1 writer and the
// proxy's transform, frames the body (Content-Length kept, chunked re-chunked), parses the
// response head (absorbing interim 1xx), decodes the body zero-copy from the connection buffer.
// Thread contract: the worker that owns the connection; one exchange, then destroyed.
#pragma once

#include <optional>
#include <string>

#include "base/buffer.h"
#include "http/h1/body_decoder.h"
#include "proxy/upstream_codec.h"

namespace cw::proxy {

class H1Upstream final : public UpstreamCodec {
 public:
  // `stream`: the connection (outlives this object); `method`: the request's, which decides
  // whether the response has a body (HEAD, CONNECT).
  H1Upstream(rt::Stream& stream, BufferPool& buffers, std::string_view method)
      : H1Upstream(stream, buffers, method, own_head_) {}
  // `head_buffer`: where the request head is written; a pooled connection keeps one so that
  // its requests reuse the capacity instead of allocating a head each.
  H1Upstream(rt::Stream& stream, BufferPool& buffers, std::string_view method,
             std::string& head_buffer)
      : stream_(stream), buf_(buffers), method_(method), head_(head_buffer) {}

  rt::Task<Result<void>> send_head(const http::RequestHead& head,
                                   const http::HeaderTransform& transform,
                                   const http::BodyFraming& framing, std::string_view body,
                                   bool end, int64_t deadline) override;
  rt::Task<Result<void>> send_body(std::string_view data, bool end, int64_t deadline) override;
  rt::Task<Result<void>> read_head(http::ResponseHead& out, int64_t deadline) override;
  bool response_started() const override { return response_started_; }
  Result<Piece> buffered_body() override;
  rt::Task<Result<Piece>> read_body(int64_t deadline) override;
  const http::HeaderMap& trailers() const override { return trailers_; }
  bool reusable() const override;
  rt::Stream* tunnel_stream(ConnBuffer*& pending) override;

  static constexpr size_t kMaxResponseHead = 64 * 1024;

  // The two calls of every exchange without a coroutine frame each, for callers that know the
  // codec is this one (CodecSlot); the virtual send_head and read_head above are these.
  // frame_head writes the head (transformed, framed) and frames the first body bytes into
  // iov (at least 4 entries); the caller writes them to stream().
  int frame_head(const http::RequestHead& head, const http::HeaderTransform& transform,
                 const http::BodyFraming& framing, std::string_view body, bool end, iovec* iov);
  rt::Stream& stream() { return stream_; }
  // co_await HeadRead(codec, out, deadline): read_head as a plain awaiter. It parses what is
  // buffered and reads only while the socket has bytes; otherwise it waits for readiness
  // (and parses in the readiness callback), resuming the caller once, when the head is
  // complete or the read failed.
  class HeadRead : public rt::detail::IoAwaiterBase {
   public:
    HeadRead(H1Upstream& c, http::ResponseHead& out, int64_t deadline)
        : IoAwaiterBase(c.stream_.loop(), c.stream_.io_state(), deadline), c_(c), out_(out) {}
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h) { suspend_on(st_->reader, h); }
    Result<void> await_resume();

   private:
    bool step();  // true when finished (a final head, or an error in err_)
    static void ready(rt::IoWaiter* w);
    H1Upstream& c_;
    http::ResponseHead& out_;
    size_t scan_ = 0;  // bytes already searched for the end of the head
  };

 private:
  rt::Stream& stream_;
  ConnBuffer buf_;
  std::string_view method_;
  std::string own_head_;
  std::string& head_;
  std::string gather_;  // several chunks already buffered go out as one piece
  std::optional<http::h1::BodyDecoder> dec_;
  http::HeaderMap trailers_;
  char chunk_line_[24];
  bool chunked_ = false;
  bool request_done_ = false;
  bool response_started_ = false;
  bool upstream_keep_alive_ = false;
  bool body_done_ = false;
  bool until_close_ = false;
  bool until_close_eof_ = false;
};

}  // namespace cw::proxy
