// Admin listener plumbing: the runtime's Acceptor, admission under the connection limit (the
// oldest idle connection makes room), one coroutine per connection, HTTP/1.1 framing with our
// own codec (head deadline, Content-Length bodies, keep-alive, idle timeout). Endpoints live in
// dispatch.cc. Thread contract: see admin_server.h.
#include "admin/admin_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "admin/dispatch.h"
#include "admin/reply.h"
#include "base/log.h"
#include "http/h1/parser.h"
#include "http/h1/writer.h"
#include "proxy/errors.h"

namespace cw::admin {
namespace {

constexpr int64_t kWriteTimeoutMs = 10'000;
constexpr int64_t kLingerMs = 1'000;  // draining a refused client before closing
constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxBodyBytes = 1024 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxLingerBytes = 256 * 1024;
constexpr int kReserveFds = 2;  // spares the acceptor serves with at EMFILE
constexpr int kBacklog = 4096;

// One open connection. Idle ones (waiting for a request, nothing buffered) are also on the
// idle list, oldest first, so a full listener can close the one that has waited longest.
struct Conn {
  rt::TcpStream* stream = nullptr;
  bool evicted = false;
  uint64_t idle_since = 0;  // loop iteration it became idle
  Conn* prev = nullptr;     // idle list links; null when not idle
  Conn* next = nullptr;
};

// Shared by the server object and its coroutines, so a connection that wakes after
// AdminServer is gone finds `closed` set instead of freed memory.
struct Core : std::enable_shared_from_this<Core> {
  Core(rt::EventLoop& l, AdminHooks h, AdminLimits lim)
      : loop(l), hooks(std::move(h)), limits(lim) {
    idle.prev = idle.next = &idle;
  }
  rt::EventLoop& loop;
  AdminHooks hooks;
  AdminLimits limits;
  AdminCounters counters;
  rt::FdReserve reserve{kReserveFds};
  std::unique_ptr<rt::Acceptor> acceptor;
  bool closed = false;
  std::set<Conn*> conns;  // open connections, for close()
  size_t evicting = 0;    // of conns: closed for room, not finished yet
  Conn idle;              // sentinel of the idle list (next = oldest)

  void set_idle(Conn& c) {
    if (c.prev || c.evicted) return;
    c.idle_since = loop.iterations();
    c.prev = idle.prev;
    c.next = &idle;
    idle.prev->next = &c;
    idle.prev = &c;
  }
  void set_busy(Conn& c) {
    if (!c.prev) return;
    c.prev->next = c.next;
    c.next->prev = c.prev;
    c.prev = c.next = nullptr;
  }
  // Closes the oldest idle connection (its coroutine sees EOF and ends); false if none. One
  // that became idle in this turn of the loop is spared: its request may be waiting unread.
  bool evict_oldest_idle() {
    if (idle.next == &idle || idle.next->idle_since >= loop.iterations()) return false;
    Conn& c = *idle.next;
    set_busy(c);
    c.evicted = true;
    ++evicting;
    counters.evicted.inc();
    if (c.stream->is_open()) ::shutdown(c.stream->fd(), SHUT_RDWR);
    return true;
  }
  size_t admitted() const { return conns.size() - evicting; }
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
  http::h1::write_status_line(1, r.status, {}, out);
  out += "Content-Type: ";
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

// Appends up to `chunk` bytes read from `s` to `buf` (the head and the body both grow it).
rt::Task<ReadOutcome> read_more(rt::TcpStream& s, std::string& buf, size_t chunk,
                                int64_t deadline) {
  const size_t old = buf.size();
  buf.resize(old + chunk);
  auto n = co_await s.read(buf.data() + old, chunk, deadline);
  buf.resize(old + (n ? *n : 0));
  if (!n) co_return n.error() == std::errc::timed_out ? ReadOutcome::kTimeout : ReadOutcome::kError;
  co_return *n == 0 ? ReadOutcome::kEof : ReadOutcome::kData;
}

rt::Task<void> serve_conn(std::shared_ptr<Core> core, rt::TcpStream s) {
  rt::EventLoop& loop = core->loop;
  const AdminLimits& lim = core->limits;
  Conn self{&s};
  core->conns.insert(&self);
  core->counters.connections.inc();
  std::string buf;
  http::RequestHead req;
  const http::h1::ParseLimits limits{kMaxHeadBytes, kMaxHeaders};
  bool first = true;

  for (;;) {
    if (core->closed) break;
    if (buf.empty()) {
      // Nothing buffered: wait without a read, up to the head timeout for a new connection and
      // the idle timeout between keep-alive requests. Idle meanwhile: first to go when full.
      core->set_idle(self);
      auto r = co_await s.wait_readable(loop.now_ms() +
                                        (first ? lim.header_read_timeout_ms : lim.idle_timeout_ms));
      core->set_busy(self);
      if (!r || core->closed || self.evicted) break;
    }
    first = false;

    // ---- head ----
    int64_t deadline = loop.now_ms() + lim.header_read_timeout_ms;
    http::h1::ParseResult pr;
    size_t scan = 0;
    ReadOutcome last = ReadOutcome::kData;
    for (;;) {
      if (!buf.empty()) {
        pr = http::h1::parse_request_head(buf, limits, req, scan);
        if (pr.status != http::h1::ParseStatus::kNeedMore) break;
        scan = buf.size();
      }
      last = co_await read_more(s, buf, kReadChunk, deadline);
      if (last != ReadOutcome::kData) break;
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
      deadline = loop.now_ms() + lim.header_read_timeout_ms;
      while (buf.size() < want) {
        last = co_await read_more(s, buf, std::min(kReadChunk, want - buf.size()), deadline);
        if (last != ReadOutcome::kData) break;
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
    Response resp = co_await dispatch(&core->hooks, &core->counters, req.method, req.target, body);
    const bool keep_alive = req.keep_alive && !core->closed;
    const std::string out = wire_response(resp, keep_alive, req.method == "HEAD");
    auto w = co_await s.write(out, loop.now_ms() + kWriteTimeoutMs);
    if (!w) break;
    buf.erase(0, pr.consumed + body_len);
    if (!keep_alive) break;
  }
  core->set_busy(self);
  if (self.evicted) --core->evicting;
  core->conns.erase(&self);
  core->counters.connections.dec();
}

// Admission: under the limit, serve; at the limit, the oldest idle connection makes room; with
// none idle, the new connection is closed (counted).
void on_accept(Core* core, rt::TcpStream s) {
  if (core->closed) return;
  if (core->admitted() >= core->limits.max_connections && !core->evict_oldest_idle()) {
    core->counters.refused.inc();
    CW_DEBUG("admin: {} connections open, none idle; closing one from {}", core->conns.size(),
             s.peer().text());
    return;  // dropping the stream closes it
  }
  rt::spawn(serve_conn(core->shared_from_this(), std::move(s)));
}

// Drives one dispatch to its end for handle(); the state outlives the caller if it suspends.
struct HandleState {
  std::optional<Response> response;
};
rt::Task<void> handle_now(std::shared_ptr<Core> core, std::string method, std::string target,
                          std::string body, std::shared_ptr<HandleState> out) {
  out->response = co_await dispatch(&core->hooks, &core->counters, method, target, body);
}

}  // namespace

struct AdminServer::Impl {
  std::shared_ptr<Core> core;
};

AdminServer::AdminServer(rt::EventLoop& loop, AdminHooks hooks, AdminLimits limits)
    : impl_(std::make_unique<Impl>(Impl{std::make_shared<Core>(loop, std::move(hooks), limits)})) {}

AdminServer::~AdminServer() { close(); }

Result<rt::SocketAddress> AdminServer::listen(const rt::SocketAddress& addr) {
  Core& core = *impl_->core;
  if (core.closed || core.acceptor) return fail(std::errc::already_connected);
  auto l = rt::TcpListener::bind(core.loop, addr, kBacklog);
  if (!l) return fail(l.error());
  rt::AcceptOptions opts;
  // Out of descriptors, an operator still gets health, metrics and the reload that fixes it:
  // a spare serves the connection, and the oldest idle admin connection is closed for the next.
  opts.on_exhausted = rt::AcceptOptions::OnExhausted::kServe;
  Core* c = &core;
  opts.on_spare_hook = [c] { c->evict_oldest_idle(); };
  core.acceptor = std::make_unique<rt::Acceptor>(
      std::move(*l), core.reserve, core.counters.accept,
      [c](rt::TcpStream s) { on_accept(c, std::move(s)); }, std::move(opts));
  return core.acceptor->local_address();
}

void AdminServer::close() {
  Core& core = *impl_->core;
  if (core.closed) return;
  core.closed = true;
  if (core.acceptor) core.acceptor->close();
  // Wake every connection; each sees `closed` and ends without calling a hook again.
  for (Conn* c : core.conns) {
    if (c->stream->is_open()) ::shutdown(c->stream->fd(), SHUT_RDWR);
  }
}

size_t AdminServer::connections() const { return impl_->core->conns.size(); }

const AdminCounters& AdminServer::counters() const { return impl_->core->counters; }

AdminServer::Response AdminServer::handle(std::string_view method, std::string_view target,
                                          std::string_view body) {
  auto out = std::make_shared<HandleState>();
  rt::spawn(
      handle_now(impl_->core, std::string(method), std::string(target), std::string(body), out));
  if (out->response) return std::move(*out->response);
  return error_reply(503, "pending",
                     {{"detail", "this request waits for the workers; ask the admin listener"}});
}

}  // namespace cw::admin
