// HTTP/1.1 downstream framing and tunnelling. Thread contract: see h1_downstream.h.
#include "proxy/h1_downstream.h"

#include "http/h1/writer.h"
#include "proxy/worker.h"

namespace cw::proxy {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr int64_t kTunnelIdleMs = 3600 * 1000;

struct TunnelJoin {
  int running = 2;
  std::coroutine_handle<> waiter;
};

// Copies bytes one way until EOF or error, then half-closes the other side.
rt::Task<void> pump(rt::Stream* from, rt::Stream* to, TunnelJoin* join, BufferPool* pool) {
  ConnBuffer buf(*pool);
  for (;;) {
    size_t space = buf.prepare();
    auto n = co_await from->read(buf.write_ptr(), space, from->loop().now_ms() + kTunnelIdleMs);
    if (!n || *n == 0) {
      if (n) {
        to->shutdown_write();
      } else if (from->is_open() && to->is_open()) {
        // An error or idle timeout on one side ends both directions.
        from->shutdown_both();
        to->shutdown_both();
      }
      break;
    }
    buf.commit(*n);
    auto w = co_await to->write(buf.view(), to->loop().now_ms() + kTunnelIdleMs);
    buf.consume(buf.size());
    if (!w) {
      from->shutdown_both();
      to->shutdown_both();
      break;
    }
  }
  if (--join->running == 0 && join->waiter) join->waiter.resume();
}

struct JoinAwaiter {
  TunnelJoin* join;
  bool await_ready() const noexcept { return join->running == 0; }
  void await_suspend(std::coroutine_handle<> h) noexcept { join->waiter = h; }
  void await_resume() const noexcept {}
};

}  // namespace

rt::Task<Result<Downstream::Piece>> H1Downstream::read_body(int64_t deadline) {
  for (;;) {
    if (dec_.done()) co_return Piece{{}, true};
    if (!buf_.empty()) {
      auto st = dec_.decode(buf_.view());
      if (st.error) co_return fail(std::errc::bad_message);
      buf_.consume(st.consumed);
      // The view stays valid: consume() never moves bytes; only the next read may.
      if (!st.data.empty() || st.done) co_return Piece{st.data, st.done};
      if (st.consumed) continue;
    }
    if (req_.expect_continue && !sent_continue_) {
      sent_continue_ = true;
      auto w = co_await stream_.write(kContinue, deadline);
      if (!w) co_return fail(w.error());
    }
    size_t space = buf_.prepare();
    auto n = co_await stream_.read(buf_.write_ptr(), space, deadline);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return fail(std::errc::connection_reset);
    buf_.commit(*n);
  }
}

rt::Task<Result<void>> H1Downstream::send_head(http::ResponseHead& head, std::string_view body,
                                               bool end, int64_t deadline) {
  head_.clear();
  // Room for the status line (the upstream's reason, or a standard one of at most 32 bytes),
  // the fields, the framing and a Connection field.
  http::h1::HeadCursor c(head_, 15 + head.reason.size() + 32 + http::h1::fields_size(head.headers) +
                                    http::h1::kFramingRoom + 24);
  http::h1::write_status_line(req_.version_minor, head.status, head.reason, c);
  const bool restate = head.body.kind != http::BodyKind::kNone;
  for (const auto& h : head.headers) {
    if (restate && http::header_has(h.token, http::kFraming)) continue;
    c.field(h.name, h.value);
  }
  chunked_out_ = false;
  switch (head.body.kind) {
    case http::BodyKind::kContentLength:
      http::h1::write_framing(head.body, c);
      break;
    case http::BodyKind::kChunked:
    case http::BodyKind::kUntilClose:
      if (req_.version_minor >= 1) {
        http::h1::write_framing({http::BodyKind::kChunked, 0}, c);
        chunked_out_ = true;
      } else {
        close_after_ = true;  // HTTP/1.0: the body ends when we close
      }
      break;
    case http::BodyKind::kNone:
      break;
  }
  bool upgraded = head.status == 101;
  bool keep = head.keep_alive && req_.keep_alive && !close_after_ && !w_.draining();
  if (!upgraded) {
    if (!keep) {
      close_after_ = true;
      c.put("Connection: close\r\n");
    } else if (req_.version_minor == 0) {
      c.put("Connection: keep-alive\r\n");
    }
  }
  c.crlf();
  c.finish();

  iovec iov[5];
  iov[0] = {head_.data(), head_.size()};
  int n = 1 + http::h1::frame_body_piece(body, end, chunked_out_, chunk_line_, iov + 1);
  co_return co_await stream_.writev(iov, n, deadline);
}

rt::Task<Result<void>> H1Downstream::send_body(std::string_view data, bool end, int64_t deadline) {
  iovec iov[4];
  int n = http::h1::frame_body_piece(data, end, chunked_out_, chunk_line_, iov);
  if (n == 0) co_return Result<void>{};
  co_return co_await stream_.writev(iov, n, deadline);
}

rt::Task<void> H1Downstream::tunnel(rt::Stream& upstream, ConnBuffer& pending) {
  auto& loop = stream_.loop();
  if (!pending.empty()) {
    auto w = co_await stream_.write(pending.view(), loop.now_ms() + kTunnelIdleMs);
    pending.consume(pending.size());
    if (!w) co_return;
  }
  if (!buf_.empty()) {  // bytes the client sent right after its upgrade request
    auto w = co_await upstream.write(buf_.view(), loop.now_ms() + kTunnelIdleMs);
    buf_.consume(buf_.size());
    if (!w) co_return;
  }
  TunnelJoin join;
  rt::spawn(pump(&upstream, &stream_, &join, &w_.buffers()));
  co_await pump(&stream_, &upstream, &join, &w_.buffers());
  co_await JoinAwaiter{&join};
}

}  // namespace cw::proxy
