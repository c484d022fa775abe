// The c-ares resolver on an event loop. Thread contract: see resolver.h.
#include "resolver/resolver.h"

#include <ares.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <mutex>

#include "dns/builder.h"
#include "dns/message.h"

namespace cw::resolver {

// One c-ares socket registered on the loop. Its waiters stay installed for the socket's life:
// every edge calls ares_process_fd, which reads or writes what c-ares has pending (and does
// nothing when there is nothing).
struct Resolver::Sock {
  struct Waiter : rt::IoWaiter {
    Resolver* self = nullptr;
    int fd = -1;
    bool read = false;
  };
  rt::IoState* st = nullptr;
  Waiter reader, writer;
  bool wants_read = false, wants_write = false;  // what c-ares last said (sock_state_cb)
};

// What ares_send carries to its callback.
struct Resolver::Query {
  Resolver* self;
  CacheKey key;
};

namespace {

ares_channel chan(void* c) { return static_cast<ares_channel>(c); }

}  // namespace

Resolver::Resolver(rt::EventLoop& loop, ResolverOptions options)
    : loop_(loop), options_(std::move(options)), cache_(options_.cache),
      self_(std::make_shared<Resolver*>(this)) {
  for (const std::string& s : options_.servers) {
    if (!servers_text_.empty()) servers_text_ += ",";
    servers_text_ += s;
  }
  if (servers_text_.empty()) servers_text_ = "/etc/resolv.conf";
  timer_.ctx = this;
  timer_.fire = [](rt::TimerNode* n) {
    static_cast<Resolver*>(n->ctx)->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  };
}

Result<std::unique_ptr<Resolver>, std::string> Resolver::create(rt::EventLoop& loop,
                                                                ResolverOptions options) {
  static std::once_flag once;
  static int lib_status = ARES_SUCCESS;
  std::call_once(once, [] { lib_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (lib_status != ARES_SUCCESS) {
    return Unexpected{std::string("c-ares: ") + ares_strerror(lib_status)};
  }
  std::unique_ptr<Resolver> r(new Resolver(loop, std::move(options)));
  if (auto ok = r->init(); !ok) return Unexpected{ok.error()};
  return r;
}

Result<void, std::string> Resolver::init() {
  ares_options o{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
             ARES_OPT_EDNSPSZ;
  o.sock_state_cb = [](void* data, ares_socket_t fd, int r, int w) {
    on_sock_state(data, fd, r, w);
  };
  o.sock_state_cb_data = this;
  o.timeout = std::max(1, options_.timeout_ms);
  o.tries = std::max(1, options_.tries);
  o.flags = ARES_FLAG_EDNS;  // large SRV answers fit in one UDP answer; TC still goes TCP
  o.ednspsz = dns::kEdnsPayload;
  ares_channel c = nullptr;
  int st = ares_init_options(&c, &o, mask);
  if (st != ARES_SUCCESS) return Unexpected{std::string("c-ares init: ") + ares_strerror(st)};
  channel_ = c;
  // c-ares opens and closes its sockets through these, so each socket it uses is registered on
  // the loop when made and leaves it (closed by the loop, exactly once) when c-ares is done.
  static const ares_socket_functions kSocketFunctions = {
      [](int domain, int type, int protocol, void* data) -> ares_socket_t {
        return sock_open(domain, type, protocol, data);
      },
      [](ares_socket_t fd, void* data) { return sock_close(fd, data); },
      [](ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void*) {
        return ::connect(fd, addr, len);
      },
      [](ares_socket_t fd, void* buf, size_t len, int flags, sockaddr* from,
         ares_socklen_t* from_len, void*) -> ares_ssize_t {
        return ::recvfrom(fd, buf, len, flags, from, from_len);
      },
      [](ares_socket_t fd, const iovec* vec, int n, void*) -> ares_ssize_t {
        return ::writev(fd, vec, n);
      }};
  ares_set_socket_functions(c, &kSocketFunctions, this);
  if (!options_.servers.empty()) {
    st = ares_set_servers_ports_csv(c, servers_text_.c_str());
    if (st != ARES_SUCCESS) {
      return Unexpected{"resolvers '" + servers_text_ + "': " + ares_strerror(st)};
    }
  }
  return {};
}

Resolver::~Resolver() {
  destroying_ = true;
  loop_.timers().cancel(timer_);
  // Queries in flight end with ARES_EDESTRUCTION (their Query freed, no callback of ours);
  // c-ares closes its sockets through sock_close, which takes them off the loop.
  if (channel_) ares_destroy(chan(channel_));
  self_.reset();
}

void Resolver::lookup(std::string_view name, uint16_t qtype, Callback callback) {
  ++counters_.lookups;
  CacheKey key = make_key(name, qtype);
  if (const CachedAnswer* hit = cache_.fresh(key, loop_.now_ms())) {
    auto r = std::make_shared<Resolution>();
    r->name = key.name;
    r->qtype = qtype;
    r->addresses = hit->answer.addresses;
    r->srv = hit->answer.srv;
    r->ttl_s = hit->answer.ttl_s;
    r->negative = hit->answer.negative;
    r->expires_at_ms = hit->expires_at_ms;
    deliver(std::move(callback), std::move(r));
    return;
  }
  auto [it, fresh] = pending_.try_emplace(key);
  it->second.waiters.push_back(std::move(callback));
  if (!fresh) {
    ++counters_.coalesced;
    return;
  }
  start_query(key);  // may finish at once (and erase `it`) on a local error
}

void Resolver::start_query(const CacheKey& key) {
  ++counters_.queries;
  unsigned char* buf = nullptr;
  int len = 0;
  int st = ares_create_query(key.name.c_str(), dns::kClassIN, key.qtype, 0, /*rd=*/1, &buf, &len,
                             dns::kEdnsPayload);
  if (st != ARES_SUCCESS) {
    finish(key, Unexpected{std::string("bad name: ") + ares_strerror(st)});
    return;
  }
  auto* q = new Query{this, key};
  ares_send(chan(channel_), buf, len, on_ares_done, q);
  ares_free_string(buf);
  kick_writes();
  reschedule();
}

void Resolver::on_ares_done(void* arg, int status, int, unsigned char* buf, int len) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  if (status == ARES_EDESTRUCTION || q->self->destroying_) return;
  q->self->on_response(q->key, status, buf, len);
}

void Resolver::on_response(const CacheKey& key, int status, const unsigned char* buf, int len) {
  if (status != ARES_SUCCESS) {
    finish(key, Unexpected{std::string(ares_strerror(status))});
    return;
  }
  dns::Message m;
  if (const char* why = dns::parse_message(
          std::string_view(reinterpret_cast<const char*>(buf), size_t(len)), m)) {
    finish(key, Unexpected{std::string("malformed response: ") + why});
    return;
  }
  auto answer = read_answer(m, key.name, key.qtype);
  if (answer && key.qtype == dns::rr::kSRV && !answer->negative) {
    const bool missing = std::any_of(answer->srv.begin(), answer->srv.end(),
                                     [](const SrvTarget& t) { return t.addresses.empty(); });
    if (missing) {
      fill_srv_targets(key, std::move(*answer));
      return;
    }
  }
  finish(key, std::move(answer));
}

void Resolver::fill_srv_targets(const CacheKey& key, Answer answer) {
  struct Fill {
    CacheKey key;
    Answer answer;
    size_t outstanding = 0;
    std::string error;
  };
  auto fill = std::make_shared<Fill>(Fill{key, std::move(answer), 0, {}});
  auto done = [this](const std::shared_ptr<Fill>& f) {
    if (--f->outstanding > 0) return;
    if (!f->error.empty()) {
      finish(f->key, Unexpected{f->error});
    } else {
      finish(f->key, std::move(f->answer));
    }
  };
  for (const SrvTarget& t : fill->answer.srv) {
    if (t.addresses.empty()) ++fill->outstanding;
  }
  for (size_t i = 0; i < fill->answer.srv.size(); ++i) {
    if (!fill->answer.srv[i].addresses.empty()) continue;
    const std::string target = fill->answer.srv[i].target;
    // A first; AAAA only when the target has no A records.
    lookup(target, dns::rr::kA, [this, fill, i, target, done](const Resolution& a) {
      auto take = [fill, i, target](const Resolution& r) {
        if (!r.usable()) {
          fill->error = "SRV target " + target + ": " + r.error;
          return;
        }
        SrvTarget& t = fill->answer.srv[i];
        t.addresses = r.addresses;
        const uint32_t ttl = r.stale ? 0 : r.ttl_s;  // a stale target: refresh soon
        if (!r.addresses.empty()) fill->answer.ttl_s = std::min(fill->answer.ttl_s, ttl);
      };
      if (a.usable() && !a.addresses.empty()) {
        take(a);
        done(fill);
        return;
      }
      lookup(target, dns::rr::kAAAA, [fill, take, done](const Resolution& aaaa) {
        take(aaaa);
        done(fill);
      });
    });
  }
}

void Resolver::finish(const CacheKey& key, Result<Answer, std::string> result) {
  auto node = pending_.extract(key);
  if (node.empty()) return;
  const int64_t now = loop_.now_ms();
  auto r = std::make_shared<Resolution>();
  r->name = key.name;
  r->qtype = key.qtype;
  if (result) {
    const CachedAnswer* stored = cache_.put(key, *result, now);
    r->addresses = std::move(result->addresses);
    r->srv = std::move(result->srv);
    r->ttl_s = result->ttl_s;
    r->negative = result->negative;
    r->expires_at_ms = stored ? stored->expires_at_ms : now;
  } else {
    ++counters_.failures;
    r->error = result.error();
    if (const CachedAnswer* old = cache_.stale(key, now)) {
      r->stale = true;
      r->addresses = old->answer.addresses;
      r->srv = old->answer.srv;
      r->ttl_s = old->answer.ttl_s;
      r->expires_at_ms = old->expires_at_ms;
    }
  }
  std::shared_ptr<const Resolution> shared = std::move(r);
  for (Callback& cb : node.mapped().waiters) deliver(std::move(cb), shared);
}

void Resolver::deliver(Callback cb, std::shared_ptr<const Resolution> r) {
  ready_.emplace_back(std::move(cb), std::move(r));
  if (flush_posted_) return;
  flush_posted_ = true;
  loop_.post([weak = std::weak_ptr<Resolver*>(self_)] {
    if (auto self = weak.lock()) (*self)->flush();
  });
}

void Resolver::flush() {
  flush_posted_ = false;
  auto batch = std::move(ready_);
  ready_.clear();
  // A callback may look up again (queued for the next flush) but must not destroy us.
  for (auto& [cb, r] : batch) cb(*r);
}

void Resolver::process(int read_fd, int write_fd) {
  ares_process_fd(chan(channel_), read_fd, write_fd);
  kick_writes();
  reschedule();
}

void Resolver::reschedule() {
  if (destroying_) return;
  timeval tv{};
  if (!ares_timeout(chan(channel_), nullptr, &tv)) {
    loop_.timers().cancel(timer_);
    return;
  }
  const int64_t ms = int64_t(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
  loop_.arm_timer_ms(timer_, std::max<int64_t>(ms, 1));
}

void Resolver::on_sock_state(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<Resolver*>(data);
  auto it = self->socks_.find(fd);
  if (it == self->socks_.end()) return;
  Sock& s = *it->second;
  // Edge-triggered: a socket that has been writable all along gives no new edge when c-ares
  // queues a TCP query on it and starts wanting to write, so kick_writes() tries once.
  if (writable && !s.wants_write) self->kick_ = true;
  s.wants_read = readable != 0;
  s.wants_write = writable != 0;
}

void Resolver::kick_writes() {
  for (int round = 0; kick_ && round < 4; ++round) {
    kick_ = false;
    std::vector<int> fds;
    for (const auto& [fd, s] : socks_) {
      if (s->wants_write && s->st->writable) fds.push_back(fd);
    }
    for (int fd : fds) ares_process_fd(chan(channel_), ARES_SOCKET_BAD, fd);
  }
  kick_ = false;
}

int Resolver::sock_open(int domain, int type, int protocol, void* data) {
  auto* self = static_cast<Resolver*>(data);
  const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return ARES_SOCKET_BAD;
  rt::IoState* st = self->loop_.add(fd);
  if (!st) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return ARES_SOCKET_BAD;
  }
  auto s = std::make_unique<Sock>();
  s->st = st;
  for (Sock::Waiter* w : {&s->reader, &s->writer}) {
    w->self = self;
    w->fd = fd;
    w->on_ready = on_io;
    w->on_cancel = on_io_cancel;
  }
  s->reader.read = true;
  st->reader = &s->reader;
  st->writer = &s->writer;
  self->socks_[fd] = std::move(s);
  return fd;
}

int Resolver::sock_close(int fd, void* data) {
  auto* self = static_cast<Resolver*>(data);
  auto it = self->socks_.find(fd);
  if (it == self->socks_.end()) return ::close(fd);
  rt::IoState* st = it->second->st;
  st->reader = nullptr;
  st->writer = nullptr;
  self->loop_.close(st);  // closes the fd; the state is freed after this batch of events
  self->socks_.erase(it);
  return 0;
}

void Resolver::on_io(rt::IoWaiter* w) {
  // Copied out first: processing may close this socket and free its waiter.
  auto* sw = static_cast<Sock::Waiter*>(w);
  Resolver* self = sw->self;
  const int fd = sw->fd;
  if (!sw->read) {
    self->process(ARES_SOCKET_BAD, fd);
    return;
  }
  // Edge-triggered: c-ares drains a UDP socket until EAGAIN but reads a TCP socket once per
  // call, so keep calling while data is still waiting (bounded).
  for (int round = 0; round < 64; ++round) {
    self->process(fd, ARES_SOCKET_BAD);
    if (self->socks_.find(fd) == self->socks_.end()) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return;
  }
}

}  // namespace cw::resolver
