// UpstreamCodec: one request/response exchange with an upstream over a pooled connection,
// protocol-neutral; the mirror of Downstream on the client side. HTTP/1 implements it today
// (h1_upstream.h); an HTTP/2 stream on a multiplexed connection implements it next, and the
// attempt and forwarder stay as they are. The codec owns framing; the proxy owns header
// policy, handed in as a HeaderTransform.
// Thread contract: the worker that owns the upstream connection.
#pragma once

#include <string_view>

#include "base/result.h"
#include "http/header_transform.h"
#include "http/message.h"
#include "proxy/downstream.h"
#include "runtime/stream.h"
#include "runtime/task.h"

namespace cw::proxy {

class UpstreamCodec {
 public:
  virtual ~UpstreamCodec() = default;

  using Piece = Downstream::Piece;  // decoded body bytes, valid until the next call; end flag

  // Sends the request head, transformed, with its body framing stated as `framing`, plus the
  // first body bytes (often all of them) in one write. `end`: the request body ends here.
  virtual rt::Task<Result<void>> send_head(const http::RequestHead& head,
                                           const http::HeaderTransform& transform,
                                           const http::BodyFraming& framing, std::string_view body,
                                           bool end, int64_t deadline) = 0;
  virtual rt::Task<Result<void>> send_body(std::string_view data, bool end, int64_t deadline) = 0;

  // Reads the final response head into `out` (interim 1xx other than 101 are absorbed).
  // Errors: timed_out, connection_reset (closed or reset), bad_message (malformed or too large).
  virtual rt::Task<Result<void>> read_head(http::ResponseHead& out, int64_t deadline) = 0;
  // True once any byte of a response arrived: a failure after that is not a keep-alive race.
  virtual bool response_started() const = 0;

  // The response body bytes already received, without waiting (may be empty).
  virtual Result<Piece> buffered_body() = 0;
  // The next piece of the response body, waiting up to the deadline. A body delimited by the
  // upstream's close ends with {"", true}. Errors: timed_out, connection_reset (truncated),
  // bad_message (framing).
  virtual rt::Task<Result<Piece>> read_body(int64_t deadline) = 0;
  // Trailer fields of the response (after the last piece). HTTP/1 validates and drops them.
  virtual const http::HeaderMap& trailers() const = 0;

  // May the connection carry another request: the response was complete, the upstream keeps
  // the connection alive, the request went out whole and nothing extra was received.
  virtual bool reusable() const = 0;

  // After a 101 response: the stream to tunnel and the upstream bytes already read past the
  // head. Null when the protocol cannot tunnel this way.
  virtual rt::Stream* tunnel_stream(ConnBuffer*& pending) = 0;
};

}  // namespace cw::proxy
