// The HTTP/1.1 upstream codec. Thread contract: see h1_upstream.h.
#include "proxy/h1_upstream.h"

#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace cw::proxy {

rt::Task<Result<void>> H1Upstream::send_head(const http::RequestHead& head,
                                             const http::HeaderTransform& transform,
                                             const http::BodyFraming& framing,
                                             std::string_view body, bool end, int64_t deadline) {
  head_.clear();
  http::h1::write_request_head(head, head_, &transform, &framing);
  chunked_ = framing.kind == http::BodyKind::kChunked;
  request_done_ = end;
  iovec iov[4];
  iov[0] = {head_.data(), head_.size()};
  int n = 1 + http::h1::frame_body_piece(body, end, chunked_, chunk_line_, iov + 1);
  co_return co_await stream_.writev(iov, n, deadline);
}

rt::Task<Result<void>> H1Upstream::send_body(std::string_view data, bool end, int64_t deadline) {
  request_done_ = end;
  iovec iov[3];
  int n = http::h1::frame_body_piece(data, end, chunked_, chunk_line_, iov);
  if (n == 0) co_return Result<void>{};
  co_return co_await stream_.writev(iov, n, deadline);
}

rt::Task<Result<void>> H1Upstream::read_head(http::ResponseHead& out, int64_t deadline) {
  const http::h1::ParseLimits limits{kMaxResponseHead, 200};
  size_t scan = 0;
  for (;;) {
    if (!buf_.empty()) {
      auto pr = http::h1::parse_response_head(buf_.view(), limits, method_, out, scan);
      if (pr.status == http::h1::ParseStatus::kDone) {
        buf_.consume(pr.consumed);
        scan = 0;
        // Interim responses (100 Continue and friends) are ours to absorb, except 101.
        if (out.status >= 100 && out.status < 200 && out.status != 101) continue;
        upstream_keep_alive_ = out.keep_alive;
        until_close_ = out.body.kind == http::BodyKind::kUntilClose;
        dec_.emplace(out.body);
        body_done_ = dec_->done();
        co_return Result<void>{};
      }
      if (pr.status == http::h1::ParseStatus::kError) co_return fail(std::errc::bad_message);
      scan = buf_.size();
    }
    size_t space = buf_.prepare(kMaxResponseHead);
    if (space == 0) co_return fail(std::errc::bad_message);
    auto n = co_await stream_.read(buf_.write_ptr(), space, deadline);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return fail(std::errc::connection_reset);
    response_started_ = true;
    buf_.commit(*n);
  }
}

Result<UpstreamCodec::Piece> H1Upstream::buffered_body() {
  // Decodes everything buffered into one view, copying only when several chunks are buffered.
  // Views stay valid until the next read into the buffer.
  gather_.clear();
  std::string_view out;
  bool multiple = false;
  while (!body_done_ && !buf_.empty()) {
    auto st = dec_->decode(buf_.view());
    if (st.error) return fail(std::errc::bad_message);
    if (!st.data.empty()) {
      if (!multiple && out.empty()) {
        out = st.data;
      } else {
        if (!multiple) gather_.assign(out);
        multiple = true;
        gather_.append(st.data);
      }
    }
    buf_.consume(st.consumed);
    if (st.done) body_done_ = true;
    if (st.consumed == 0 && st.data.empty()) break;
  }
  if (multiple) out = gather_;
  return Piece{out, body_done_};
}

rt::Task<Result<UpstreamCodec::Piece>> H1Upstream::read_body(int64_t deadline) {
  for (;;) {
    if (body_done_) co_return Piece{{}, true};
    auto p = buffered_body();
    if (!p) co_return fail(p.error());
    if (!p->data.empty() || p->end) co_return *p;
    size_t space = buf_.prepare();
    auto n = co_await stream_.read(buf_.write_ptr(), space, deadline);
    if (!n) co_return fail(n.error());
    if (*n == 0) {
      if (until_close_) {
        until_close_eof_ = true;
        body_done_ = true;
        co_return Piece{{}, true};
      }
      co_return fail(std::errc::connection_reset);  // truncated
    }
    buf_.commit(*n);
  }
}

bool H1Upstream::reusable() const {
  return body_done_ && !until_close_eof_ && upstream_keep_alive_ && request_done_ && buf_.empty();
}

rt::Stream* H1Upstream::tunnel_stream(ConnBuffer*& pending) {
  pending = &buf_;
  return &stream_;
}

}  // namespace cw::proxy
