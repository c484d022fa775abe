// The HTTP/1.1 upstream codec. Thread contract: see h1_upstream.h.
#include "proxy/h1_upstream.h"

#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace cw::proxy {

int H1Upstream::frame_head(const http::RequestHead& head, const http::HeaderTransform& transform,
                           const http::BodyFraming& framing, std::string_view body, bool end,
                           iovec* iov) {
  head_.clear();
  http::h1::write_request_head(head, head_, &transform, &framing);
  chunked_ = framing.kind == http::BodyKind::kChunked;
  request_done_ = end;
  iov[0] = {head_.data(), head_.size()};
  return 1 + http::h1::frame_body_piece(body, end, chunked_, chunk_line_, iov + 1);
}

rt::Task<Result<void>> H1Upstream::send_head(const http::RequestHead& head,
                                             const http::HeaderTransform& transform,
                                             const http::BodyFraming& framing,
                                             std::string_view body, bool end, int64_t deadline) {
  iovec iov[4];
  const int n = frame_head(head, transform, framing, body, end, iov);
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
  co_return co_await HeadRead(*this, out, deadline);
}

bool H1Upstream::HeadRead::step() {
  const http::h1::ParseLimits limits{kMaxResponseHead, 200};
  ConnBuffer& buf = c_.buf_;
  for (;;) {
    if (!buf.empty()) {
      auto pr = http::h1::parse_response_head(buf.view(), limits, c_.method_, out_, scan_);
      if (pr.status == http::h1::ParseStatus::kDone) {
        buf.consume(pr.consumed);
        scan_ = 0;
        // Interim responses (100 Continue and friends) are ours to absorb, except 101.
        if (out_.status >= 100 && out_.status < 200 && out_.status != 101) continue;
        c_.upstream_keep_alive_ = out_.keep_alive;
        c_.until_close_ = out_.body.kind == http::BodyKind::kUntilClose;
        c_.dec_.emplace(out_.body);
        c_.body_done_ = c_.dec_->done();
        return true;
      }
      if (pr.status == http::h1::ParseStatus::kError) {
        err_ = std::make_error_code(std::errc::bad_message);
        return true;
      }
      scan_ = buf.size();
    }
    const size_t space = buf.prepare(kMaxResponseHead);
    if (space == 0) {
      err_ = std::make_error_code(std::errc::bad_message);
      return true;
    }
    if (dead()) {
      err_ = std::make_error_code(std::errc::bad_file_descriptor);
      return true;
    }
    // Read only when the socket may have bytes; otherwise wait for its next edge.
    if (!c_.stream_.maybe_readable()) return false;
    const rt::IoStep r = c_.stream_.read_some(buf.write_ptr(), space);
    if (r.again) return false;
    if (r.err) {
      err_ = r.err;
      return true;
    }
    if (r.n == 0) {
      err_ = std::make_error_code(std::errc::connection_reset);
      return true;
    }
    c_.response_started_ = true;
    buf.commit(r.n);
  }
}

bool H1Upstream::HeadRead::await_ready() {
  if (step()) return true;
  if (expired()) {
    err_ = std::make_error_code(std::errc::timed_out);
    return true;
  }
  on_ready = &HeadRead::ready;
  return false;
}

void H1Upstream::HeadRead::ready(rt::IoWaiter* w) {
  auto* self = static_cast<HeadRead*>(w);
  if (self->step()) self->complete(self->st_->reader);
}

Result<void> H1Upstream::HeadRead::await_resume() {
  if (err_) return fail(err_);
  return {};
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
