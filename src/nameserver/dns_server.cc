// The DNS server's UDP and TCP loops. Thread contract: see dns_server.h.
#include "nameserver/dns_server.h"

#include <sys/socket.h>

#include <array>
#include <deque>
#include <set>

#include "base/log.h"
#include "runtime/tcp.h"

namespace cw::nameserver {

// ---- UDP ----

Result<std::shared_ptr<UdpServer>> UdpServer::start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                    std::shared_ptr<const Zone> zone,
                                                    DnsCounters* counters,
                                                    std::shared_ptr<Forwarder> forwarder) {
  auto sock = rt::UdpSocket::adopt(loop, std::move(fd));
  if (!sock) return fail(sock.error());
  std::shared_ptr<UdpServer> s(new UdpServer());
  s->sock_ = std::move(*sock);
  s->zone_ = std::move(zone);
  s->loop_ = &loop;
  if (counters) s->counters_ = counters;
  s->forwarder_ = std::move(forwarder);
  if (s->forwarder_) s->single_ = std::make_unique<rt::UdpOutBatch>();
  rt::spawn(serve(s));
  return s;
}

void UdpServer::close() {
  sock_.close();
  if (forwarder_) forwarder_->close();
}

void UdpServer::send_one(const std::string& reply, const sockaddr_storage& peer, socklen_t len) {
  if (!sock_.is_open()) return;
  single_->clear();
  single_->add(reply, peer, len);
  if (sock_.send(*single_) == 1) {
    counters_->responses.inc();
    if (reply.size() > 2 && (uint8_t(reply[2]) & 0x02)) counters_->truncated.inc();
  } else {
    counters_->dropped.inc();
  }
}

rt::Task<void> UdpServer::serve(std::shared_ptr<UdpServer> self) {
  // Batches live with the coroutine: ~140 KiB per worker, reused for every datagram.
  auto in = std::make_unique<rt::UdpInBatch>();
  auto out = std::make_unique<rt::UdpOutBatch>();
  auto replies = std::make_unique<std::array<std::string, rt::UdpInBatch::kBatch>>();
  auto outside = std::make_unique<dns::Query>();  // a query for the forwarder
  for (;;) {
    auto ready = co_await self->sock_.readable();
    if (!ready) co_return;  // closed
    // A few batches per wake-up, then back to the loop: queries must not starve the worker's
    // HTTP connections (the socket stays readable, so the next turn comes back here).
    for (int round = 0; round < 4; ++round) {
      auto n = self->sock_.receive(*in);
      if (!n) {
        CW_WARN("dns: udp receive failed: {}", n.error().message());
        co_return;
      }
      if (*n == 0) break;
      const Zone* zone = self->zone_.get();
      Forwarder* fwd = self->forwarder_.get();
      for (int i = 0; i < *n; ++i) {
        self->counters_->queries.inc();
        std::string& reply = (*replies)[size_t(i)];
        reply.clear();
        // A datagram cut by our buffer is not the query it was: answer nothing rather than
        // a question it did not ask.
        if (zone && !in->truncated(i)) {
          if (!fwd) {
            zone->respond(in->data(i), Transport::kUdp, self->rotation_++, reply);
          } else if (zone->respond_or_forward(in->data(i), Transport::kUdp, self->rotation_++,
                                              reply, *outside) &&
                     !fwd->resolve(*outside, in->data(i), dns::udp_limit(*outside), reply,
                                   [weak = std::weak_ptr<UdpServer>(self), peer = in->peer(i),
                                    len = in->peer_len(i)](std::string answer) {
                                     auto s = weak.lock();
                                     if (s && !answer.empty()) s->send_one(answer, peer, len);
                                   })) {
            continue;  // answered later, alone
          }
        }
        if (reply.empty()) {
          self->counters_->dropped.inc();
          continue;
        }
        if (reply.size() > 2 && (uint8_t(reply[2]) & 0x02)) self->counters_->truncated.inc();
        out->add(reply, in->peer(i), in->peer_len(i));
      }
      const int queued = out->count;
      const int sent = self->sock_.send(*out);
      self->counters_->responses.inc(uint64_t(sent));
      self->counters_->dropped.inc(uint64_t(queued - sent));
      if (*n < rt::UdpInBatch::kBatch) break;
    }
    if (self->sock_.is_open()) {
      struct Yield {
        rt::EventLoop* loop;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) const { loop->defer(h); }
        void await_resume() const noexcept {}
      };
      co_await Yield{self->loop_};
    }
  }
}

// ---- TCP ----

namespace {
struct Conn;
}

struct TcpServer::State {
  rt::EventLoop* loop = nullptr;
  std::shared_ptr<const Zone> zone;
  TcpLimits limits;
  DnsCounters counters;
  rt::AcceptCounters accept;
  rt::FdReserve reserve{1};
  std::set<Conn*> conns;
  std::shared_ptr<Forwarder> forwarder;
  bool closed = false;
};

namespace {

using State = TcpServer::State;

// One client connection. Its reader, its writer (while answers are queued) and the forwarded
// queries it waits for each hold it; the socket closes when the last of them lets go, so the
// answers to queries a client sent before it stopped sending still reach it.
struct Conn {
  Conn(std::shared_ptr<State> state, rt::TcpStream stream)
      : st(std::move(state)), s(std::move(stream)) {
    st->conns.insert(this);
  }
  ~Conn() { st->conns.erase(this); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  std::shared_ptr<State> st;
  rt::TcpStream s;
  std::deque<std::string> queued;  // answers waiting for the one write in progress
  bool writing = false;
  bool broken = false;
  size_t forwarded = 0;  // queries waiting on the forwarder
};

// Reads exactly `len` bytes; false on EOF, error or the deadline.
rt::Task<bool> read_exact(rt::TcpStream& s, char* buf, size_t len, int64_t deadline) {
  size_t got = 0;
  while (got < len) {
    auto n = co_await s.read(buf + got, len - got, deadline);
    if (!n || *n == 0) co_return false;
    got += *n;
  }
  co_return true;
}

// One length-prefixed message (RFC 1035 4.2.2); false when the write failed.
rt::Task<bool> write_message(std::shared_ptr<Conn> c, std::string reply) {
  const char prefix[2] = {char(reply.size() >> 8), char(reply.size() & 0xff)};
  const iovec iov[2] = {{const_cast<char*>(prefix), 2},
                        {const_cast<char*>(reply.data()), reply.size()}};
  auto w = co_await c->s.writev(iov, 2, c->st->loop->now_ms() + c->st->limits.idle_timeout_ms);
  if (!w) {
    c->broken = true;
    c->s.shutdown_both();
    co_return false;
  }
  c->st->counters.responses.inc();
  co_return true;
}

// Writes what is queued, one message at a time (one write in progress per connection).
rt::Task<void> drain_queue(std::shared_ptr<Conn> c) {
  while (!c->queued.empty() && !c->broken) {
    std::string reply = std::move(c->queued.front());
    c->queued.pop_front();
    auto w = write_message(c, std::move(reply));
    if (!co_await w) break;
  }
  c->queued.clear();
  c->writing = false;
}

// A forwarded answer, written when the connection is free to write.
void deliver(const std::shared_ptr<Conn>& c, std::string reply) {
  if (c->forwarded > 0) --c->forwarded;
  if (reply.empty() || reply.size() > 65535 || c->broken) return;
  c->queued.push_back(std::move(reply));
  if (!c->writing) {
    c->writing = true;
    rt::spawn(drain_queue(c));
  }
}

rt::Task<void> serve_tcp(std::shared_ptr<State> st, rt::TcpStream stream) {
  auto c = std::make_shared<Conn>(st, std::move(stream));
  std::string msg, reply;
  dns::Query outside;
  uint32_t rotation = 0;
  while (!st->closed && !c->broken) {
    // Each message: a two-byte length, then the message (RFC 1035 4.2.2). The idle timeout
    // covers the wait for the next one and the message itself.
    const int64_t deadline = st->loop->now_ms() + st->limits.idle_timeout_ms;
    std::array<char, 2> len_buf{};
    if (!co_await read_exact(c->s, len_buf.data(), 2, deadline)) break;
    const size_t len = (size_t(uint8_t(len_buf[0])) << 8) | uint8_t(len_buf[1]);
    msg.resize(len);
    if (len > 0 && !co_await read_exact(c->s, msg.data(), len, deadline)) break;
    st->counters.queries.inc();
    reply.clear();
    if (st->zone) {
      Forwarder* fwd = st->forwarder.get();
      if (!fwd) {
        st->zone->respond(msg, Transport::kTcp, rotation++, reply);
      } else if (st->zone->respond_or_forward(msg, Transport::kTcp, rotation++, reply,
                                              outside)) {
        if (c->forwarded >= st->limits.max_forwarded_per_connection) {
          reply = dns::error_response(outside, dns::rcode::kServFail);
          st->counters.forward.overflow.inc();
        } else {
          ++c->forwarded;
          // The callback holds the connection, so it lives until its answers are written.
          if (!fwd->resolve(outside, msg, dns::kTcpLimit, reply,
                            [c](std::string answer) { deliver(c, std::move(answer)); })) {
            continue;
          }
          --c->forwarded;
        }
      }
    }
    if (reply.empty() || reply.size() > 65535) {
      // A response or a header-less scrap: nothing to say, and the stream cannot be trusted.
      st->counters.dropped.inc();
      c->broken = true;
      c->s.shutdown_both();
      break;
    }
    if (c->writing) {  // a forwarded answer is being written: this one waits its turn
      c->queued.push_back(std::move(reply));
      continue;
    }
    c->writing = true;
    auto w = write_message(c, std::move(reply));
    const bool ok = co_await w;
    c->writing = false;
    if (!ok) break;
    if (!c->queued.empty()) {  // forwarded answers that came during the write
      c->writing = true;
      rt::spawn(drain_queue(c));
    }
  }
  // At EOF or idle the connection stays open (held by its forwarded queries) until their
  // answers are written.
}

}  // namespace

Result<std::unique_ptr<TcpServer>> TcpServer::start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                    std::shared_ptr<const Zone> zone,
                                                    TcpLimits limits,
                                                    std::shared_ptr<Forwarder> forwarder) {
  auto l = rt::TcpListener::adopt(loop, std::move(fd));
  if (!l) return fail(l.error());
  std::unique_ptr<TcpServer> srv(new TcpServer());
  auto st = std::make_shared<State>();
  st->loop = &loop;
  st->zone = std::move(zone);
  st->limits = limits;
  st->forwarder = std::move(forwarder);
  srv->state_ = st;
  srv->acceptor_ = std::make_unique<rt::Acceptor>(
      std::move(*l), st->reserve, st->accept, [weak = std::weak_ptr<State>(st)](rt::TcpStream s) {
        auto st = weak.lock();
        if (!st || st->closed) return;
        if (st->conns.size() >= st->limits.max_connections) {
          st->counters.dropped.inc();
          return;  // closed by dropping it: the client retries or falls back
        }
        rt::spawn(serve_tcp(std::move(st), std::move(s)));
      });
  return srv;
}

TcpServer::~TcpServer() { close(); }

void TcpServer::set_zone(std::shared_ptr<const Zone> zone) { state_->zone = std::move(zone); }

void TcpServer::close() {
  if (!state_ || state_->closed) return;
  state_->closed = true;
  if (acceptor_) acceptor_->close();
  if (state_->forwarder) state_->forwarder->close();
  for (Conn* c : state_->conns) c->s.shutdown_both();
}

rt::SocketAddress TcpServer::local_address() const {
  return acceptor_ ? acceptor_->local_address() : rt::SocketAddress();
}

const DnsCounters& TcpServer::counters() const { return state_->counters; }

size_t TcpServer::connections() const { return state_ ? state_->conns.size() : 0; }

}  // namespace cw::nameserver
