// H1Downstream: the Downstream of one HTTP/1.1 request on a client connection: decodes the
// request body from the connection buffer, frames the response (Content-Length, chunked, or
// close-delimited for HTTP/1.0), answers Expect: 100-continue, tunnels after 101.
// Thread contract: the worker owning the connection.
#pragma once

#include <string>

#include "base/buffer.h"
#include "http/h1/body_decoder.h"
#include "proxy/downstream.h"

namespace cw::proxy {

class Worker;

class H1Downstream final : public Downstream {
 public:
  H1Downstream(Worker& w, rt::Stream& stream, ConnBuffer& buf, const http::RequestHead& req)
      : w_(w), stream_(stream), buf_(buf), req_(req), dec_(req.body) {}

  rt::Task<Result<Piece>> read_body(int64_t deadline) override;
  bool body_done() const override { return dec_.done(); }
  rt::Task<Result<void>> send_head(http::ResponseHead& head, std::string_view body, bool end,
                                   int64_t deadline) override;
  rt::Task<Result<void>> send_body(std::string_view data, bool end, int64_t deadline) override;
  rt::Task<void> tunnel(rt::Stream& upstream, ConnBuffer& pending) override;
  void reset() override { stream_.reset(); }

  // The connection must close after this response (HTTP/1.0 close-delimited body, or the
  // head said Connection: close).
  bool close_after() const { return close_after_; }

 private:
  Worker& w_;
  rt::Stream& stream_;
  ConnBuffer& buf_;
  const http::RequestHead& req_;
  http::h1::BodyDecoder dec_;
  bool sent_continue_ = false;
  bool chunked_out_ = false;
  bool close_after_ = false;
  std::string head_;
  char chunk_line_[24];
};

}  // namespace cw::proxy
