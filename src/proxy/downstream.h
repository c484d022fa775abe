// Downstream: the client side of one request/response exchange, protocol-neutral. The HTTP/1
// session implements it today; an HTTP/2 stream implements it next, and the router and
// forwarder stay as they are. Thread contract: the worker that owns the client connection.
#pragma once

#include <string_view>

#include "base/buffer.h"
#include "base/result.h"
#include "http/message.h"
#include "runtime/stream.h"
#include "runtime/task.h"

namespace cw::proxy {

class Downstream {
 public:
  virtual ~Downstream() = default;

  struct Piece {
    std::string_view data;  // decoded body bytes; valid until the next call
    bool end = false;       // no more body after this piece
  };
  // The next piece of the request body (answers Expect: 100-continue first if needed).
  virtual rt::Task<Result<Piece>> read_body(int64_t deadline) = 0;
  // True when the whole request body has been read.
  virtual bool body_done() const = 0;

  // Sends the response head plus the first body bytes (often all of them) in one write.
  // The head's framing (head.body) says how the body is delimited; the implementation
  // re-frames as its protocol needs. head.keep_alive here means: the client connection may
  // stay open after this response.
  virtual rt::Task<Result<void>> send_head(http::ResponseHead& head, std::string_view body,
                                           bool end, int64_t deadline) = 0;
  virtual rt::Task<Result<void>> send_body(std::string_view data, bool end, int64_t deadline) = 0;

  // After a 101 response: relays bytes both ways between the client and `upstream` until
  // either side closes (`pending` holds upstream bytes already read). Not every protocol can.
  virtual rt::Task<void> tunnel(rt::Stream& upstream, ConnBuffer& pending) = 0;

  // Ends the client connection abortively, sending nothing more (TCP: RST): the "reset"
  // fault. The session must not use the connection afterwards.
  virtual void reset() = 0;
};

}  // namespace cw::proxy
