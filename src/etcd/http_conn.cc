// The gateway connection: request out in one writev, answers parsed with http/h1. Every error
// closes the socket (its state is unknown); abort() wakes the operation in flight with
// shutdown(2), which the coroutine notices and turns into kClosed.
// Thread contract: see http_conn.h.
#include "etcd/http_conn.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>

#include "etcd/codec.h"
#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"

namespace cw::etcd {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// A non-200 answer to a stream is short (an error object); its body is read under this bound.
constexpr int64_t kErrorBodyTimeoutMs = 5000;

// Marks the connection busy for an operation's lifetime, so abort() knows it must not close
// the socket under a waiting coroutine.
class BusyScope {
 public:
  explicit BusyScope(bool& busy) : busy_(busy) { busy_ = true; }
  ~BusyScope() { busy_ = false; }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  bool& busy_;
};

void enable_keepalive(int fd) {
  const int on = 1, idle_s = 30, interval_s = 10, probes = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

}  // namespace

Result<Endpoint, std::string> parse_http_endpoint(const std::string& url) {
  const std::string_view text(url);
  auto bad = [&](std::string why) {
    return Unexpected<std::string>{"etcd endpoint \"" + url + "\": " + std::move(why)};
  };
  if (text.rfind("https://", 0) == 0) {
    return bad("https is not supported (use the member's plain http client URL)");
  }
  if (text.rfind("http://", 0) != 0) return bad("must start with http://");
  std::string_view hostport = text.substr(7);
  if (!hostport.empty() && hostport.back() == '/') hostport.remove_suffix(1);
  if (hostport.find('/') != std::string_view::npos) return bad("a path is not supported");
  if (hostport.empty()) return bad("no host");
  if (auto addr = rt::SocketAddress::parse(hostport)) {
    if (addr->port() == 0) return bad("port 0");
    return Endpoint{url, *addr};
  }
  const bool bracketed = hostport.front() == '[';
  const size_t colon = hostport.rfind(':');
  if (!bracketed && (colon == std::string_view::npos)) return bad("needs a port (http://IP:PORT)");
  std::string_view host =
      bracketed ? hostport.substr(1, hostport.find(']') - 1) : hostport.substr(0, colon);
  if (!bracketed && host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address must be in brackets (http://[::1]:2379)");
  }
  if (!rt::SocketAddress::from_ip_port(host, 1)) {
    return bad("host names are not supported (give the member's IP address)");
  }
  return bad("bad port");
}

// ---- ConnGate ---------------------------------------------------------------------------------

ConnGate::Awaiter::~Awaiter() {
  g_.loop_.timers().cancel(timer_);
  if (linked_) g_.unlink(this);
}

bool ConnGate::Awaiter::await_ready() {
  if (g_.closed_) {
    outcome_ = Outcome::kClosed;
    return true;
  }
  if (!g_.busy_) {
    g_.busy_ = true;
    outcome_ = Outcome::kGranted;
    return true;
  }
  if (deadline_ <= g_.loop_.now_ms()) {
    outcome_ = Outcome::kTimedOut;
    return true;
  }
  return false;
}

void ConnGate::Awaiter::await_suspend(std::coroutine_handle<> h) {
  h_ = h;
  g_.waiters_.push_back(this);
  linked_ = true;
  timer_.ctx = this;
  timer_.fire = [](rt::TimerNode* n) {
    auto* self = static_cast<Awaiter*>(n->ctx);
    self->g_.unlink(self);
    self->outcome_ = Outcome::kTimedOut;
    self->h_.resume();
  };
  g_.loop_.timers().arm(timer_, deadline_);
}

void ConnGate::release() {
  if (waiters_.empty()) {
    busy_ = false;
    return;
  }
  Awaiter* next = waiters_.front();
  unlink(next);
  loop_.timers().cancel(next->timer_);
  next->outcome_ = Outcome::kGranted;
  loop_.defer(next->h_);
}

void ConnGate::close() {
  closed_ = true;
  auto waiting = std::move(waiters_);
  waiters_.clear();
  for (Awaiter* w : waiting) {
    w->linked_ = false;
    loop_.timers().cancel(w->timer_);
    w->outcome_ = Outcome::kClosed;
    loop_.defer(w->h_);
  }
}

void ConnGate::unlink(Awaiter* w) {
  waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), w), waiters_.end());
  w->linked_ = false;
}

// ---- HttpConn ---------------------------------------------------------------------------------

HttpConn::HttpConn(rt::EventLoop& loop, rt::SocketAddress addr, HttpConnOptions opts)
    : loop_(loop), addr_(addr), opts_(std::move(opts)), host_(addr.text()), rbuf_(kReadChunk) {}

HttpConn::~HttpConn() { conn_.close(); }

void HttpConn::abort() {
  aborted_ = true;
  if (!conn_.is_open()) return;
  if (busy_) {
    conn_.shutdown_both();  // the read or write in flight sees EOF or an error
  } else {
    conn_.close();
  }
}

void HttpConn::disconnect() {
  if (busy_) return;
  conn_.close();
  in_.clear();
}

HttpError HttpConn::fail(HttpError::Kind kind, std::string detail) {
  conn_.close();  // safe: the failing operation is the one that waited on it
  in_.clear();
  if (aborted_) return HttpError{HttpError::Kind::kClosed, "closed", false};
  return HttpError{kind, std::move(detail), false};
}

HttpError HttpConn::io_fail(HttpError::Kind kind, const char* step, const std::error_code& ec) {
  if (ec == std::errc::timed_out) {
    return fail(kind == HttpError::Kind::kSend ? kind : HttpError::Kind::kTimeout,
                std::string(step) + ": timeout");
  }
  return fail(kind, std::string(step) + ": " + ec.message());
}

void HttpConn::finish(bool reusable) {
  if (!reusable || aborted_ || !in_.empty()) {  // bytes past the answer: not a sane peer
    conn_.close();
    in_.clear();
  }
}

rt::Task<Result<void, HttpError>> HttpConn::send(const std::string& path, const std::string& body,
                                                 int64_t* deadline, bool* reused) {
  *reused = false;
  if (aborted_) co_return Unexpected{fail(HttpError::Kind::kClosed, "closed")};
  // A kept connection that shows data or a close while idle was ended by the server (or holds
  // garbage): start afresh rather than race it.
  if (conn_.is_open() && (!in_.empty() || !conn_.idle_and_open())) {
    conn_.close();
    in_.clear();
  }
  if (conn_.is_open()) {
    *reused = true;
  } else {
    const int64_t started = loop_.now_ms();
    auto connecting = rt::connect(loop_, addr_, opts_.connect_timeout_ms);
    auto c = co_await std::move(connecting);
    // Connecting has its own timeout: the deadline is for the exchange.
    if (*deadline != rt::kNoDeadline) *deadline += loop_.now_ms() - started;
    if (aborted_) {
      if (c) c->close();
      co_return Unexpected{fail(HttpError::Kind::kClosed, "closed")};
    }
    if (!c) co_return Unexpected{io_fail(HttpError::Kind::kConnect, "connect", c.error())};
    conn_ = std::move(*c);
    if (opts_.tcp_keepalive) enable_keepalive(conn_.fd());
  }
  std::string head;
  head.reserve(160 + path.size() + opts_.extra_headers.size());
  head += "POST ";
  head += path;
  head += " HTTP/1.1\r\nHost: ";
  head += host_;
  head +=
      "\r\nUser-Agent: causeway-etcd\r\nAccept: application/json\r\n"
      "Content-Type: application/json\r\nContent-Length: ";
  head += std::to_string(body.size());
  head += "\r\n";
  head += opts_.extra_headers;
  head += "\r\n";
  const iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(body.data()), body.size()}};
  auto w = co_await conn_.writev(iov, 2, *deadline);
  if (!w) {
    HttpError e = io_fail(HttpError::Kind::kSend, "send", w.error());
    e.reused_and_silent = *reused && e.kind == HttpError::Kind::kSend;
    co_return Unexpected{std::move(e)};
  }
  if (aborted_) co_return Unexpected{fail(HttpError::Kind::kClosed, "closed")};
  co_return Result<void, HttpError>{};
}

rt::Task<Result<size_t, HttpError>> HttpConn::fill(int64_t deadline, const char* step) {
  auto n = co_await conn_.read(rbuf_.data(), rbuf_.size(), deadline);
  if (aborted_) co_return Unexpected{fail(HttpError::Kind::kClosed, "closed")};
  if (!n) co_return Unexpected{io_fail(HttpError::Kind::kBroken, step, n.error())};
  in_.append(rbuf_.data(), *n);
  co_return *n;
}

rt::Task<Result<HttpConn::Head, HttpError>> HttpConn::read_head(int64_t deadline, bool reused) {
  const http::h1::ParseLimits limits{opts_.max_head_bytes, 100};
  http::ResponseHead head;
  size_t scan = 0;
  bool got_any = !in_.empty();
  for (;;) {
    if (!in_.empty()) {
      auto pr = http::h1::parse_response_head(in_, limits, "POST", head, scan);
      if (pr.status == http::h1::ParseStatus::kDone) {
        in_.erase(0, pr.consumed);
        scan = 0;
        if (head.status >= 100 && head.status < 200) continue;  // interim: the answer follows
        co_return Head{head.status, head.body, head.keep_alive};
      }
      if (pr.status == http::h1::ParseStatus::kError) {
        co_return Unexpected{
            fail(HttpError::Kind::kBroken, std::string("bad answer: ") + pr.error_reason)};
      }
      scan = in_.size();
    }
    auto n = co_await fill(deadline, "read");
    if (!n) {
      HttpError e = n.error();
      e.reused_and_silent = reused && !got_any && e.kind != HttpError::Kind::kClosed;
      co_return Unexpected{std::move(e)};
    }
    if (*n == 0) {
      HttpError e =
          fail(HttpError::Kind::kBroken, got_any ? "read: connection closed mid-answer"
                                                 : "read: connection closed before an answer");
      e.reused_and_silent = reused && !got_any && e.kind != HttpError::Kind::kClosed;
      co_return Unexpected{std::move(e)};
    }
    got_any = true;
  }
}

rt::Task<Result<void, HttpError>> HttpConn::read_body(const Head& head, int64_t deadline,
                                                      std::string* out) {
  http::h1::BodyDecoder dec(head.framing);
  for (;;) {
    bool need_more = false;
    while (!need_more) {
      auto step = dec.decode(in_);
      if (step.error) {
        co_return Unexpected{
            fail(HttpError::Kind::kBroken, std::string("bad answer body: ") + step.error_reason)};
      }
      if (out->size() + step.data.size() > opts_.max_response_bytes) {
        co_return Unexpected{
            fail(HttpError::Kind::kBroken,
                 "answer larger than " + std::to_string(opts_.max_response_bytes) + " bytes")};
      }
      out->append(step.data);
      in_.erase(0, step.consumed);
      if (step.done) co_return Result<void, HttpError>{};
      need_more = step.consumed == 0 && step.data.empty();
    }
    auto n = co_await fill(deadline, "read");
    if (!n) co_return Unexpected{n.error()};
    if (*n == 0) {
      if (head.framing.kind == http::BodyKind::kUntilClose) {
        conn_.close();
        co_return Result<void, HttpError>{};
      }
      co_return Unexpected{fail(HttpError::Kind::kBroken, "read: connection closed mid-answer")};
    }
  }
}

rt::Task<Result<HttpResponse, HttpError>> HttpConn::post(std::string path, std::string body,
                                                         int64_t deadline_ms) {
  BusyScope busy(busy_);
  bool reused = false;
  auto sending = send(path, body, &deadline_ms, &reused);
  auto sent = co_await std::move(sending);
  if (!sent) co_return Unexpected{sent.error()};
  auto heading = read_head(deadline_ms, reused);
  auto head = co_await std::move(heading);
  if (!head) co_return Unexpected{head.error()};
  HttpResponse resp;
  resp.status = head->status;
  auto reading = read_body(*head, deadline_ms, &resp.body);
  auto got = co_await std::move(reading);
  if (!got) co_return Unexpected{got.error()};
  finish(head->keep_alive && head->framing.kind != http::BodyKind::kUntilClose);
  co_return resp;
}

rt::Task<Result<HttpResponse, HttpError>> HttpConn::stream(std::string path, std::string body,
                                                           int64_t head_deadline_ms,
                                                           ObjectFn on_object) {
  BusyScope busy(busy_);
  bool reused = false;
  auto sending = send(path, body, &head_deadline_ms, &reused);
  auto sent = co_await std::move(sending);
  if (!sent) co_return Unexpected{sent.error()};
  auto heading = read_head(head_deadline_ms, reused);
  auto head = co_await std::move(heading);
  if (!head) co_return Unexpected{head.error()};
  HttpResponse resp;
  resp.status = head->status;
  if (head->status != 200) {  // etcd's error object: read it whole
    auto reading = read_body(*head, loop_.now_ms() + kErrorBodyTimeoutMs, &resp.body);
    auto got = co_await std::move(reading);
    if (!got) co_return Unexpected{got.error()};
    finish(head->keep_alive && head->framing.kind != http::BodyKind::kUntilClose);
    co_return resp;
  }
  http::h1::BodyDecoder dec(head->framing);
  JsonObjectSplitter splitter(opts_.max_object_bytes);
  bool stopped = false;
  for (;;) {
    bool need_more = false;
    while (!need_more && !stopped) {
      auto step = dec.decode(in_);
      if (step.error) {
        co_return Unexpected{
            fail(HttpError::Kind::kBroken, std::string("bad stream: ") + step.error_reason)};
      }
      auto fed = splitter.feed(step.data, [&](std::string_view obj) {
        if (aborted_ || !on_object(obj)) stopped = true;
        return !stopped;
      });
      if (!fed) co_return Unexpected{fail(HttpError::Kind::kBroken, fed.error())};
      in_.erase(0, step.consumed);
      if (aborted_) co_return Unexpected{fail(HttpError::Kind::kClosed, "closed")};
      if (step.done) {
        if (splitter.pending() > 0) {
          co_return Unexpected{fail(HttpError::Kind::kBroken, "stream ended mid-object")};
        }
        finish(head->keep_alive);
        co_return resp;
      }
      need_more = step.consumed == 0 && step.data.empty();
    }
    if (stopped) {
      conn_.close();  // the body is not read to its end: the connection cannot carry another
      in_.clear();
      co_return resp;
    }
    auto n = co_await fill(rt::kNoDeadline, "read");
    if (!n) co_return Unexpected{n.error()};
    if (*n == 0) co_return Unexpected{fail(HttpError::Kind::kBroken, "stream closed by etcd")};
  }
}

}  // namespace cw::etcd
