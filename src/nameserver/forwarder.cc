// The forwarder (see forwarder.h): cache, coalescing, and one coroutine per upstream exchange
// that asks each recursor in turn. Thread contract: see forwarder.h.
#include "nameserver/forwarder.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/random.h"
#include "dns/builder.h"
#include "dns/name.h"
#include "runtime/clock.h"
#include "runtime/listen_socket.h"
#include "runtime/tcp.h"

namespace cw::nameserver {

namespace {

uint16_t get16(std::string_view w, size_t at) {
  return uint16_t((uint8_t(w[at]) << 8) | uint8_t(w[at + 1]));
}
void set16(std::string& w, size_t at, uint16_t v) {
  w[at] = char(v >> 8);
  w[at + 1] = char(v & 0xff);
}
void put16(std::string& w, uint16_t v) {
  w += char(v >> 8);
  w += char(v & 0xff);
}

// Cache key: the name (case-folded, RFC 4343), type, class, and the two bits that change what
// a recursor answers: DO (signatures) and CD (validation off).
std::string cache_key(const dns::Query& q) {
  std::string k = q.qname_lower;
  k += '\0';
  put16(k, q.question.type);
  put16(k, q.question.qclass);
  k += char((q.edns.present && q.edns.do_bit ? 1 : 0) | (q.header.cd ? 2 : 0));
  return k;
}

// The upstream query: RD always (we want the recursor to recurse, whatever the client asked),
// CD and DO as the client, EDNS at 1232 so answers up to that size come over UDP. The ID is
// set per attempt.
std::string upstream_query(const dns::Query& q) {
  std::string w;
  put16(w, 0);
  put16(w, uint16_t(0x0100 | (q.header.cd ? 0x0010 : 0)));
  put16(w, 1);
  put16(w, 0);
  put16(w, 0);
  put16(w, 1);
  dns::NameWriter names;
  if (!names.write(w, q.question.name, false)) return {};
  put16(w, q.question.type);
  put16(w, q.question.qclass);
  w += '\0';
  put16(w, dns::rr::kOPT);
  put16(w, dns::kEdnsPayload);
  put16(w, 0);
  put16(w, q.edns.present && q.edns.do_bit ? 0x8000 : 0);
  put16(w, 0);
  return w;
}

std::string servfail(const dns::Query& q) {
  std::string out = dns::error_response(q, dns::rcode::kServFail);
  if (out.size() > 3) out[3] = char(uint8_t(out[3]) | 0x80);  // RA: we do recursion for it
  return out;
}

// A socket of its own per upstream query, not connected: the kernel picks a random ephemeral
// source port when it first sends (RFC 5452 4.5), and an unconnected socket is not woken by
// ICMP errors (a connected one would be, and never stop being readable).
Result<rt::UdpSocket> open_upstream_udp(rt::EventLoop& loop, int family) {
  rt::OwnedFd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fail_errno(errno);
  return rt::UdpSocket::adopt(loop, std::move(fd));
}

bool same_address(const rt::SocketAddress& a, const rt::SocketAddress& b) {
  uint8_t x[16], y[16];
  bool v6x = false, v6y = false;
  if (!a.ip_bytes(x, v6x) || !b.ip_bytes(y, v6y) || v6x != v6y) return false;
  return a.port() == b.port() && std::memcmp(x, y, v6x ? 16 : 4) == 0;
}

struct Yield {
  rt::EventLoop* loop;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { loop->defer(h); }
  void await_resume() const noexcept {}
};

bool failure_rcode(uint16_t rc) {
  return rc == dns::rcode::kServFail || rc == dns::rcode::kRefused ||
         rc == dns::rcode::kNotImp || rc == dns::rcode::kFormErr;
}

}  // namespace

struct Forwarder::Pending {
  std::string key;
  dns::Question question;  // as first asked
  std::string query;       // the upstream query; the ID is patched per attempt
  uint16_t id = 0;
  std::vector<Waiter> waiters;
  rt::UdpSocket* udp = nullptr;  // the socket in use: closed by the timer or by close()
  rt::TcpStream* tcp = nullptr;  // the connection in use: shut down by close()
  rt::TimerNode timer;
  bool timed_out = false;
};

std::shared_ptr<Forwarder> Forwarder::create(rt::EventLoop& loop,
                                             std::vector<rt::SocketAddress> recursors,
                                             Upstream upstream, ForwarderLimits limits,
                                             ForwarderCounters* counters) {
  std::shared_ptr<Forwarder> f(new Forwarder());
  f->loop_ = &loop;
  f->recursors_ = std::move(recursors);
  f->upstream_ = upstream;
  f->limits_ = limits;
  if (counters) f->counters_ = counters;
  f->in_ = std::make_unique<rt::UdpInBatch>();
  f->out_ = std::make_unique<rt::UdpOutBatch>();
  return f;
}

uint16_t Forwarder::random16() {
  // The ID is half of the spoofing defence (the source port is the other): it must not be
  // guessable, so it comes from the kernel, 128 IDs per call.
  if (random_used_ + 2 > sizeof random_) {
    if (getrandom(random_, sizeof random_, GRND_NONBLOCK) != ssize_t(sizeof random_)) {
      SplitMix64 rng(uint64_t(rt::mono_ns()) ^ uint64_t(reinterpret_cast<uintptr_t>(this)));
      for (size_t i = 0; i < sizeof random_; i += 8) {
        const uint64_t v = rng.next();
        std::memcpy(random_ + i, &v, 8);
      }
    }
    random_used_ = 0;
  }
  const uint16_t v = uint16_t((random_[random_used_] << 8) | random_[random_used_ + 1]);
  random_used_ += 2;
  return v;
}

bool Forwarder::resolve(const dns::Query& q, std::string_view wire, size_t limit,
                        std::string& out, Reply reply) {
  if (closed_ || recursors_.empty()) {
    out = servfail(q);
    counters_->servfail.inc();
    return true;
  }
  const std::string key = cache_key(q);
  const int64_t now = loop_->now_ms();
  if (auto it = cache_.find(key); it != cache_.end()) {
    Entry& e = it->second;
    const int64_t age_ms = now - e.stored_ms;
    if (age_ms < int64_t(e.ttl_s) * 1000) {
      lru_.splice(lru_.begin(), lru_, e.lru);
      const dns::ClientView c{q.header.id, q.header.rd, q.edns.present,
                              dns::question_name_wire(wire), limit};
      out = dns::client_response(e.wire, e.layout, c, uint32_t(age_ms / 1000));
      counters_->cache_hits.inc();
      return true;
    }
    // Expired: kept (until the LRU drops it) for when every recursor fails.
  }
  auto p = pending_.find(key);
  if (waiters_ >= limits_.max_waiters ||
      (p == pending_.end() && pending_.size() >= limits_.max_in_flight)) {
    out = servfail(q);
    counters_->overflow.inc();
    counters_->servfail.inc();
    return true;
  }
  Waiter w{q, std::string(dns::question_name_wire(wire)), limit, std::move(reply)};
  ++waiters_;
  if (p != pending_.end()) {
    p->second->waiters.push_back(std::move(w));
    counters_->coalesced.inc();
    return false;
  }
  auto np = std::make_unique<Pending>();
  np->key = key;
  np->question = q.question;
  np->query = upstream_query(q);
  np->waiters.push_back(std::move(w));
  Pending* raw = np.get();
  pending_.emplace(key, std::move(np));
  counters_->forwarded.inc();
  rt::spawn(exchange(shared_from_this(), raw));
  return false;
}

bool Forwarder::matches(const Pending& p, std::string_view answer, dns::Layout& l) const {
  if (answer.size() < dns::kHeaderSize || get16(answer, 0) != p.id) return false;
  if (dns::read_layout(answer, l) != nullptr) return false;
  if (!l.header.qr || l.header.opcode != dns::kOpcodeQuery || l.header.qdcount != 1) return false;
  std::string name;
  size_t next = 0;
  if (dns::read_name(answer, dns::kHeaderSize, name, next) != nullptr) return false;
  if (answer.size() - next < 4) return false;
  return dns::iequals(name, p.question.name) && get16(answer, next) == p.question.type &&
         get16(answer, next + 2) == p.question.qclass;
}

rt::Task<Forwarder::Answer> Forwarder::ask_udp(std::shared_ptr<Forwarder> self, Pending* p, size_t r) {
  Answer a;
  const rt::SocketAddress to = self->recursors_[r];
  auto opened = open_upstream_udp(*self->loop_, to.family());
  if (!opened || p->query.empty()) co_return a;
  rt::UdpSocket sock = std::move(*opened);
  p->id = self->random16();
  set16(p->query, 0, p->id);
  self->out_->clear();
  self->out_->add(p->query, *reinterpret_cast<const sockaddr_storage*>(to.sa()), to.len());
  if (sock.send(*self->out_) != 1) co_return a;
  // The timer closes the socket: the wait below then fails and the next recursor is asked.
  p->udp = &sock;
  p->timed_out = false;
  p->timer.ctx = p;
  p->timer.fire = [](rt::TimerNode* n) {
    auto* pp = static_cast<Pending*>(n->ctx);
    pp->timed_out = true;
    if (pp->udp) pp->udp->close();
  };
  self->loop_->arm_timer_ms(p->timer, self->limits_.timeout_ms);
  bool got = false;
  while (!got) {
    auto ready = co_await sock.readable();
    if (!ready) break;  // timed out, or the forwarder closed
    auto n = sock.receive(*self->in_);
    if (!n) break;
    for (int i = 0; i < *n && !got; ++i) {
      const auto from = rt::SocketAddress::from_sockaddr(
          reinterpret_cast<const sockaddr*>(&self->in_->peer(i)), self->in_->peer_len(i));
      // Only the recursor asked, with this ID and this question: anything else is a guess by
      // someone spoofing answers (or a late answer to an earlier attempt), and dropped.
      if (self->in_->truncated(i) || !same_address(from, to) ||
          !self->matches(*p, self->in_->data(i), a.layout)) {
        self->counters_->mismatched.inc();
        continue;
      }
      a.wire.assign(self->in_->data(i));
      got = true;
    }
  }
  self->loop_->timers().cancel(p->timer);
  p->udp = nullptr;
  if (!got && p->timed_out) self->counters_->timeouts.inc();
  co_return a;
}

rt::Task<Forwarder::Answer> Forwarder::ask_tcp(std::shared_ptr<Forwarder> self, Pending* p, size_t r) {
  Answer a;
  const int64_t deadline = self->loop_->now_ms() + self->limits_.timeout_ms;
  auto connecting = rt::connect(*self->loop_, self->recursors_[r], self->limits_.timeout_ms);
  auto conn = co_await connecting;
  if (!conn || self->closed_ || p->query.empty()) co_return a;
  rt::TcpStream s = std::move(*conn);
  p->tcp = &s;
  p->id = self->random16();
  set16(p->query, 0, p->id);
  const char prefix[2] = {char(p->query.size() >> 8), char(p->query.size() & 0xff)};
  const iovec iov[2] = {{const_cast<char*>(prefix), 2}, {p->query.data(), p->query.size()}};
  auto w = co_await s.writev(iov, 2, deadline);
  std::string buf;
  bool ok = bool(w);
  // A length, then that many bytes (RFC 1035 4.2.2), all within the attempt's deadline.
  for (size_t want = 2, got = 0; ok;) {
    buf.resize(want);
    while (ok && got < want) {
      auto n = co_await s.read(buf.data() + got, want - got, deadline);
      ok = n && *n > 0;
      if (ok) got += *n;
    }
    if (!ok || want > 2 || buf.size() != 2) break;
    want = (size_t(uint8_t(buf[0])) << 8) | uint8_t(buf[1]);
    buf.clear();
    got = 0;
    if (want < dns::kHeaderSize) ok = false;
  }
  p->tcp = nullptr;
  if (!ok) {
    if (self->loop_->now_ms() >= deadline) self->counters_->timeouts.inc();
    co_return a;
  }
  if (!self->matches(*p, buf, a.layout)) {
    self->counters_->mismatched.inc();
    co_return a;
  }
  a.wire = std::move(buf);
  co_return a;
}

rt::Task<void> Forwarder::exchange(std::shared_ptr<Forwarder> self, Pending* p) {
  // Never answer from inside resolve(): the caller may be in the middle of a batch.
  co_await Yield{self->loop_};
  Answer best, failed;  // a usable answer; else the last SERVFAIL/REFUSED a recursor gave
  for (size_t r = 0; r < self->recursors_.size() && !self->closed_; ++r) {
    auto asking = ask_udp(self, p, r);
    Answer a = co_await asking;
    if (a.wire.empty()) continue;
    if (a.layout.header.tc && self->upstream_ == Upstream::kUdpThenTcp && !self->closed_) {
      auto again = ask_tcp(self, p, r);
      Answer t = co_await again;
      if (t.wire.empty()) continue;
      a = std::move(t);
    }
    if (failure_rcode(a.layout.header.rcode)) {
      failed = std::move(a);
      continue;  // another recursor may do better
    }
    best = std::move(a);
    break;
  }
  const int64_t now = self->loop_->now_ms();
  if (!self->closed_ && !best.wire.empty()) {
    self->store(p->key, best.wire, best.layout);
    self->finish(*p, best.wire, &best.layout, 0);
    co_return;
  }
  if (!self->closed_) {
    // Stale if error: an expired answer, not too old, rather than SERVFAIL (RFC 8767), with
    // its TTLs at 0 so nobody caches it.
    auto it = self->cache_.find(p->key);
    if (it != self->cache_.end() &&
        now - it->second.stored_ms <= int64_t(it->second.ttl_s) * 1000 + self->limits_.stale_ms) {
      self->counters_->stale.inc();
      const Entry e = it->second;
      self->finish(*p, e.wire, &e.layout, UINT32_MAX);
      co_return;
    }
    if (!failed.wire.empty()) {
      self->finish(*p, failed.wire, &failed.layout, 0);
      co_return;
    }
  }
  self->finish(*p, {}, nullptr, 0);
}

void Forwarder::finish(Pending& p, std::string_view answer, const dns::Layout* l, uint32_t age) {
  // Out of the table first: a reply may start another query for the same key.
  std::vector<Waiter> waiters = std::move(p.waiters);
  loop_->timers().cancel(p.timer);
  waiters_ -= std::min(waiters_, waiters.size());
  const std::string key = p.key;  // erase() must not be handed a key inside what it frees
  pending_.erase(key);            // frees p
  for (Waiter& w : waiters) {
    if (closed_) {
      w.reply({});
      continue;
    }
    if (!l) {
      counters_->servfail.inc();
      w.reply(servfail(w.query));
      continue;
    }
    const dns::ClientView c{w.query.header.id, w.query.header.rd, w.query.edns.present, w.qname,
                            w.limit};
    w.reply(dns::client_response(answer, *l, c, age));
  }
}

void Forwarder::store(const std::string& key, std::string wire, dns::Layout layout) {
  const dns::CacheTtl t = dns::cache_ttl(wire, layout);
  if (t.kind == dns::CacheTtl::kNone || t.ttl == 0) return;
  const uint32_t cap =
      t.kind == dns::CacheTtl::kNegative ? limits_.max_negative_ttl_s : limits_.max_ttl_s;
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    if (limits_.max_entries == 0) return;
    while (cache_.size() >= limits_.max_entries && !lru_.empty()) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    it = cache_.emplace(key, Entry{}).first;
    it->second.lru = lru_.begin();
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Entry& e = it->second;
  e.wire = std::move(wire);
  e.layout = std::move(layout);
  e.stored_ms = loop_->now_ms();
  e.ttl_s = std::min(t.ttl, cap);
  counters_->entries.set(int64_t(cache_.size()));
}

void Forwarder::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [key, p] : pending_) {
    loop_->timers().cancel(p->timer);
    if (p->udp) p->udp->close();
    if (p->tcp) p->tcp->shutdown_both();
  }
}

}  // namespace cw::nameserver
