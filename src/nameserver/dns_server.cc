// The DNS server's UDP and TCP loops. Thread contract: see dns_server.h.
#include "nameserver/dns_server.h"

#include <sys/socket.h>

#include <array>
#include <set>

#include "base/log.h"
#include "runtime/tcp.h"

namespace cw::nameserver {

// ---- UDP ----

Result<std::shared_ptr<UdpServer>> UdpServer::start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                    std::shared_ptr<const Zone> zone,
                                                    DnsCounters* counters) {
  auto sock = rt::UdpSocket::adopt(loop, std::move(fd));
  if (!sock) return fail(sock.error());
  std::shared_ptr<UdpServer> s(new UdpServer());
  s->sock_ = std::move(*sock);
  s->zone_ = std::move(zone);
  s->loop_ = &loop;
  if (counters) s->counters_ = counters;
  rt::spawn(serve(s));
  return s;
}

rt::Task<void> UdpServer::serve(std::shared_ptr<UdpServer> self) {
  // Batches live with the coroutine: ~140 KiB per worker, reused for every datagram.
  auto in = std::make_unique<rt::UdpInBatch>();
  auto out = std::make_unique<rt::UdpOutBatch>();
  auto replies = std::make_unique<std::array<std::string, rt::UdpInBatch::kBatch>>();
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
      for (int i = 0; i < *n; ++i) {
        self->counters_->queries.inc();
        std::string& reply = (*replies)[size_t(i)];
        reply.clear();
        // A datagram cut by our buffer is not the query it was: answer nothing rather than
        // a question it did not ask.
        if (zone && !in->truncated(i)) {
          zone->respond(in->data(i), Transport::kUdp, self->rotation_++, reply);
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

struct TcpServer::State {
  rt::EventLoop* loop = nullptr;
  std::shared_ptr<const Zone> zone;
  TcpLimits limits;
  DnsCounters counters;
  rt::AcceptCounters accept;
  rt::FdReserve reserve{1};
  std::set<rt::TcpStream*> conns;
  bool closed = false;
};

namespace {

using State = TcpServer::State;

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

rt::Task<void> serve_tcp(std::shared_ptr<State> st, rt::TcpStream s) {
  st->conns.insert(&s);
  std::string msg, reply;
  uint32_t rotation = 0;
  while (!st->closed) {
    // Each message: a two-byte length, then the message (RFC 1035 4.2.2). The idle timeout
    // covers the wait for the next one and the message itself.
    const int64_t deadline = st->loop->now_ms() + st->limits.idle_timeout_ms;
    std::array<char, 2> len_buf{};
    if (!co_await read_exact(s, len_buf.data(), 2, deadline)) break;
    const size_t len = (size_t(uint8_t(len_buf[0])) << 8) | uint8_t(len_buf[1]);
    msg.resize(len);
    if (len > 0 && !co_await read_exact(s, msg.data(), len, deadline)) break;
    st->counters.queries.inc();
    reply.clear();
    if (st->zone) st->zone->respond(msg, Transport::kTcp, rotation++, reply);
    if (reply.empty() || reply.size() > 65535) {
      // A response or a header-less scrap: nothing to say, and the stream cannot be trusted.
      st->counters.dropped.inc();
      break;
    }
    const char prefix[2] = {char(reply.size() >> 8), char(reply.size() & 0xff)};
    const iovec iov[2] = {{const_cast<char*>(prefix), 2}, {reply.data(), reply.size()}};
    auto w = co_await s.writev(iov, 2, st->loop->now_ms() + st->limits.idle_timeout_ms);
    if (!w) break;
    st->counters.responses.inc();
  }
  st->conns.erase(&s);
}

}  // namespace

Result<std::unique_ptr<TcpServer>> TcpServer::start(rt::EventLoop& loop, rt::OwnedFd fd,
                                                    std::shared_ptr<const Zone> zone,
                                                    TcpLimits limits) {
  auto l = rt::TcpListener::adopt(loop, std::move(fd));
  if (!l) return fail(l.error());
  std::unique_ptr<TcpServer> srv(new TcpServer());
  auto st = std::make_shared<State>();
  st->loop = &loop;
  st->zone = std::move(zone);
  st->limits = limits;
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
  for (rt::TcpStream* c : state_->conns) c->shutdown_both();
}

rt::SocketAddress TcpServer::local_address() const {
  return acceptor_ ? acceptor_->local_address() : rt::SocketAddress();
}

const DnsCounters& TcpServer::counters() const { return state_->counters; }

size_t TcpServer::connections() const { return state_ ? state_->conns.size() : 0; }

}  // namespace cw::nameserver
