// Admin listener plumbing: accept loop, one coroutine per connection, HTTP/1.1 framing with our
// own codec (head deadline, Content-Length bodies, keep-alive, idle timeout). Endpoints live in
// dispatch.cc. Thread contract: see admin_server.h.
#include "admin/admin_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <optional>
#include <set>

#include "admin/dispatch.h"
#include "admin/reply.h"
#include "base/log.h"
#include "http/h1/parser.h"
#include "proxy/errors.h"

namespace cw::admin {
namespace {

constexpr int64_t kHeadTimeoutMs = 10'000;  // whole head (and then body) within this
constexpr int64_t kIdleTimeoutMs = 60'000;  // keep-alive wait for the next request
constexpr int64_t kWriteTimeoutMs = 10'000;
constexpr int64_t kLingerMs = 1'000;  // draining a refused client before closing
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxBodyBytes = 1024 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxLingerBytes = 256 * 1024;

// Shared by the server object and its coroutines, so a connection that wakes after
// AdminServer is gone finds `closed` set instead of freed memory.
struct Core {
  Core(rt::EventLoop& l, AdminHooks h) : loop(l), hooks(std::move(h)) {}
  rt::EventLoop& loop;
  AdminHooks hooks;
  rt::TcpListener listener;
  bool closed = false;
  std::set<rt::TcpStream*> conns;  // open connections, for close()
  uint64_t refused = 0;            // accepted over kMaxConnections and closed at once
};

std::string sanitize_header_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

std::string wire_response(const Response& r, bool keep_alive, bool head_only) {
  std::string out;
  out.reserve(160 + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += http::reason_phrase(r.status);
  out += "\r\nContent-Type: ";
  out += sanitize_header_value(r.content_type);
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\nCache-Control: no-store\r\n";
  for (const auto& [name, value] : r.headers) {
    out += sanitize_header_value(name);
    out += ": ";
    out += sanitize_header_value(value);
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += r.body;
  return out;
}

// The codec's refusal as our JSON error: 400 bad_request, 431, 501, 505.
Response refusal(int status, std::string_view reason) {
  proxy::ProxyError e = proxy::error_for_parse_status(status);
  return error_reply(proxy::error_info(e).status, proxy::error_info(e).code,
                     {{"detail", std::string(reason)}});
}

enum class ReadOutcome { kData, kEof, kTimeout, kError };

rt::Task<void> serve_conn(std::shared_ptr<Core> core, rt::TcpStream s) {
  rt::EventLoop& loop = core->loop;
  core->conns.insert(&s);
  std::string buf;
  http::RequestHead req;
  const http::h1::ParseLimits limits{kMaxHeadBytes, kMaxHeaders};
  bool first = true;

  for (;;) {
    if (core->closed) break;
    if (buf.empty()) {
      // Nothing buffered: wait without a read, up to the head timeout for a new connection and
      // the idle timeout between keep-alive requests.
      auto r = co_await s.wait_readable(loop.now_ms() + (first ? kHeadTimeoutMs : kIdleTimeoutMs));
      if (!r || core->closed) break;
    }
    first = false;

    // ---- head ----
    int64_t deadline = loop.now_ms() + kHeadTimeoutMs;
    http::h1::ParseResult pr;
    size_t scan = 0;
    ReadOutcome last = ReadOutcome::kData;
    for (;;) {
      if (!buf.empty()) {
        pr = http::h1::parse_request_head(buf, limits, req, scan);
        if (pr.status != http::h1::ParseStatus::kNeedMore) break;
        scan = buf.size();
      }
      const size_t old = buf.size();
      buf.resize(old + kReadChunk);
      auto n = co_await s.read(buf.data() + old, kReadChunk, deadline);
      buf.resize(old + (n ? *n : 0));
      if (!n) {
        last = n.error() == std::errc::timed_out ? ReadOutcome::kTimeout : ReadOutcome::kError;
        break;
      }
      if (*n == 0) {
        last = ReadOutcome::kEof;
        break;
      }
    }
    if (core->closed || last == ReadOutcome::kEof || last == ReadOutcome::kError) break;

    std::optional<Response> fatal;  // answered, then the connection closes
    size_t body_len = 0;
    if (last == ReadOutcome::kTimeout) {
      fatal =
          error_reply(408, "request_timeout", {{"detail", "request head not received in time"}});
    } else if (pr.status == http::h1::ParseStatus::kError) {
      fatal = refusal(pr.error_status, pr.error_reason);
    } else if (req.body.kind == http::BodyKind::kChunked) {
      fatal = error_reply(411, "length_required",
                          {{"detail",
                            "chunked request bodies are not accepted here; send "
                            "Content-Length"}});
    } else if (req.body.kind == http::BodyKind::kContentLength) {
      if (req.body.length > kMaxBodyBytes) {
        fatal = error_reply(413, "payload_too_large",
                            {{"detail", "admin request bodies are limited to 1 MiB"}});
      } else {
        body_len = size_t(req.body.length);
      }
    }

    // ---- body ----
    if (!fatal && body_len > 0) {
      const size_t want = pr.consumed + body_len;
      if (req.expect_continue && buf.size() < want) {
        constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto w = co_await s.write(kContinue, loop.now_ms() + kWriteTimeoutMs);
        if (!w) break;
      }
      deadline = loop.now_ms() + kHeadTimeoutMs;
      while (buf.size() < want) {
        const size_t old = buf.size();
        const size_t chunk = std::min(kReadChunk, want - old);
        buf.resize(old + chunk);
        auto n = co_await s.read(buf.data() + old, chunk, deadline);
        buf.resize(old + (n ? *n : 0));
        if (!n) {
          last = n.error() == std::errc::timed_out ? ReadOutcome::kTimeout : ReadOutcome::kError;
          break;
        }
        if (*n == 0) {
          last = ReadOutcome::kEof;
          break;
        }
      }
      if (core->closed || last == ReadOutcome::kEof || last == ReadOutcome::kError) break;
      if (last == ReadOutcome::kTimeout) {
        fatal =
            error_reply(408, "request_timeout", {{"detail", "request body not received in time"}});
      }
    }

    if (fatal) {
      // Answer, then close gracefully: stop sending, and read (and drop) what the client still
      // sends for a moment so the kernel does not reset the connection before it reads ours.
      const std::string out = wire_response(*fatal, false, false);
      auto w = co_await s.write(out, loop.now_ms() + kWriteTimeoutMs);
      if (!w) break;
      s.shutdown_write();
      const int64_t linger_until = loop.now_ms() + kLingerMs;
      size_t dropped = 0;
      char sink[4096];
      while (dropped < kMaxLingerBytes && !core->closed) {
        auto n = co_await s.read(sink, sizeof sink, linger_until);
        if (!n || *n == 0) break;
        dropped += *n;
      }
      break;
    }

    // ---- answer ----
    const std::string_view body(buf.data() + pr.consumed, body_len);
    Response resp = dispatch(core->hooks, req.method, req.target, body);
    const bool keep_alive = req.keep_alive && !core->closed;
    const std::string out = wire_response(resp, keep_alive, req.method == "HEAD");
    auto w = co_await s.write(out, loop.now_ms() + kWriteTimeoutMs);
    if (!w) break;
    buf.erase(0, pr.consumed + body_len);
    if (!keep_alive) break;
  }
  core->conns.erase(&s);
}

rt::Task<void> accept_loop(std::shared_ptr<Core> core) {
  for (;;) {
    auto s = co_await core->listener.accept();
    if (core->closed) co_return;
    if (!s) {
      if (s.error() == std::errc::operation_canceled || s.error() == std::errc::bad_file_descriptor)
        co_return;
      // Out of descriptors or buffers: say so, back off briefly, keep going.
      CW_WARN("admin: accept failed: {}", s.error().message());
      co_await rt::sleep_for(core->loop, 50);
      if (core->closed || !core->listener.is_open()) co_return;
      continue;
    }
    if (core->conns.size() >= AdminServer::kMaxConnections) {
      ++core->refused;
      CW_DEBUG("admin: {} connections open; closing one from {}", core->conns.size(),
               s->peer().text());
      continue;  // dropping the stream closes it
    }
    rt::spawn(serve_conn(core, std::move(*s)));
  }
}

}  // namespace

struct AdminServer::Impl {
  std::shared_ptr<Core> core;
};

AdminServer::AdminServer(rt::EventLoop& loop, AdminHooks hooks)
    : impl_(std::make_unique<Impl>(Impl{std::make_shared<Core>(loop, std::move(hooks))})) {}

AdminServer::~AdminServer() { close(); }

Result<rt::SocketAddress> AdminServer::listen(const rt::SocketAddress& addr) {
  Core& core = *impl_->core;
  if (core.closed || core.listener.is_open()) return fail(std::errc::already_connected);
  auto l = rt::TcpListener::bind(core.loop, addr, 128);
  if (!l) return fail(l.error());
  core.listener = std::move(*l);
  rt::SocketAddress local = core.listener.local_address();
  rt::spawn(accept_loop(impl_->core));
  return local;
}

void AdminServer::close() {
  Core& core = *impl_->core;
  if (core.closed) return;
  core.closed = true;
  core.listener.close();
  // Wake every connection; each sees `closed` and ends without calling a hook again.
  for (rt::TcpStream* s : core.conns) {
    if (s->is_open()) ::shutdown(s->fd(), SHUT_RDWR);
  }
}

size_t AdminServer::connections() const { return impl_->core->conns.size(); }

AdminServer::Response AdminServer::handle(std::string_view method, std::string_view target,
                                          std::string_view body) {
  return dispatch(impl_->core->hooks, method, target, body);
}

}  // namespace cw::admin
