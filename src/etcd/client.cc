// Client: unary calls over one HttpConn at a time, serialized by a gate (calls queue for the
// connection within their own deadline), with failover and etcd's answers sorted into
// Error::Code. Watcher: one coroutine that lists, watches and resumes on a connection of its
// own (it shares the endpoint parsing and the error wording, hence one file).
// State that calls in flight use is held by shared_ptr, so a Client (or Watcher) may be
// destroyed right after close() (stop()) while its coroutines are still winding down.
// Thread contract: see client.h.
#include "etcd/client.h"

#include <algorithm>
#include <coroutine>
#include <utility>

#include "base/random.h"
#include "etcd/http_conn.h"
#include "resilience/backoff.h"
#include "runtime/socket_address.h"
#include "runtime/timer_wheel.h"

namespace cw::etcd {
namespace {

Result<std::vector<Endpoint>, std::string> parse_endpoints(const ClientOptions& opts) {
  if (opts.endpoints.empty()) return Unexpected<std::string>{"etcd: no endpoints"};
  std::vector<Endpoint> out;
  for (const std::string& url : opts.endpoints) {
    auto e = parse_http_endpoint(url);
    if (!e) return Unexpected{e.error()};
    out.push_back(std::move(*e));
  }
  return out;
}

HttpConnOptions conn_options(const ClientOptions& opts, bool stream) {
  HttpConnOptions o;
  o.connect_timeout_ms = std::max<int64_t>(1, opts.connect_timeout_ms);
  o.max_response_bytes = opts.max_response_bytes;
  o.max_object_bytes = opts.max_watch_message_bytes;
  // etcd refuses at once ("etcdserver: no leader") instead of waiting out its own proposal
  // timeout, and ends a watch stream when its member loses the leader.
  o.extra_headers = "Grpc-Metadata-Hasleader: true\r\n";
  o.tcp_keepalive = stream;
  return o;
}

Error make_error(Error::Code code, std::string detail) { return Error{code, std::move(detail)}; }

Error closed_error() { return make_error(Error::Code::kClosed, "etcd client closed"); }

// Refusals etcd makes before it proposes anything: the request certainly was not applied.
bool refused_before_applying(const GatewayError& e) {
  if (e.code != 14 && e.code != 8) return false;  // Unavailable, ResourceExhausted
  static constexpr std::string_view kBefore[] = {"etcdserver: no leader", "etcdserver: not capable",
                                                 "etcdserver: too many requests",
                                                 "etcdserver: unhealthy cluster"};
  return std::any_of(std::begin(kBefore), std::end(kBefore),
                     [&](std::string_view m) { return e.message.find(m) != std::string::npos; });
}

// A non-200 answer as an Error. `what`: "kv/put" etc.
Error answer_error(const Endpoint& ep, std::string_view what, const HttpResponse& r) {
  const std::string at = "etcd " + ep.url + ": " + std::string(what) + ": ";
  auto ge = parse_gateway_error(r.body);
  if (!ge) {
    std::string detail = at + "HTTP " + std::to_string(r.status);
    if (r.status == 404) detail += " (no v3 JSON gateway here? etcd 3.4 or later serves /v3/)";
    return make_error(r.status >= 500 ? Error::Code::kUnknown : Error::Code::kFailed, detail);
  }
  const std::string detail = at + ge->message + " (code " + std::to_string(ge->code) + ")";
  if (refused_before_applying(*ge)) return make_error(Error::Code::kUnavailable, detail);
  switch (ge->code) {
    case 1:   // Canceled
    case 2:   // Unknown ("context deadline exceeded" from the gateway)
    case 4:   // DeadlineExceeded
    case 14:  // Unavailable: "request timed out", "leader changed", "server stopped"
      return make_error(Error::Code::kUnknown, detail);
    default:
      return make_error(Error::Code::kFailed, detail);
  }
}

}  // namespace

Result<std::vector<std::string>, std::string> check_endpoints(const ClientOptions& opts) {
  auto eps = parse_endpoints(opts);
  if (!eps) return Unexpected{eps.error()};
  std::vector<std::string> out;
  for (const Endpoint& e : *eps) out.push_back(e.url);
  return out;
}

// ---- Client ---------------------------------------------------------------------------------

struct Client::Core {
  Core(rt::EventLoop& l, ClientOptions o, std::vector<Endpoint> e)
      : loop(l), opts(std::move(o)), eps(std::move(e)), gate(l) {}

  rt::EventLoop& loop;
  ClientOptions opts;
  std::vector<Endpoint> eps;
  size_t current = 0;              // the endpoint in use
  std::unique_ptr<HttpConn> conn;  // to eps[current]; touched only by the gate's holder
  ConnGate gate;
  bool closed = false;
  int pending = 0;

  // The next call starts at the next endpoint, on a new connection. Only by the gate's holder.
  void rotate() {
    conn.reset();
    current = (current + 1) % eps.size();
  }
};

namespace {

// Counts a call in flight for Client::pending().
class PendingScope {
 public:
  explicit PendingScope(int& n) : n_(n) { ++n_; }
  ~PendingScope() { --n_; }
  PendingScope(const PendingScope&) = delete;
  PendingScope& operator=(const PendingScope&) = delete;

 private:
  int& n_;
};

// One unary call: the 200 answer's body, or an Error. `what` is the path without "/v3/".
// idempotent: may be sent again when a kept-alive connection turned out dead.
rt::Task<Res<std::string>> exchange(std::shared_ptr<Client::Core> c, std::string what,
                                    std::string body, bool idempotent) {
  if (c->closed) co_return Unexpected{closed_error()};
  PendingScope counted(c->pending);
  int64_t deadline = c->loop.now_ms() + std::max<int64_t>(1, c->opts.request_timeout_ms);
  auto waiting = c->gate.acquire(deadline);
  const ConnGate::Outcome got = co_await waiting;
  if (got == ConnGate::Outcome::kClosed || c->closed) {
    if (got == ConnGate::Outcome::kGranted) c->gate.release();
    co_return Unexpected{closed_error()};
  }
  if (got == ConnGate::Outcome::kTimedOut) {
    co_return Unexpected{make_error(Error::Code::kUnavailable,
                                    "etcd " + c->eps[c->current].url + ": " + what +
                                        ": not sent: the connection was busy with other calls "
                                        "for the whole request timeout")};
  }
  GateHold hold(c->gate);
  const std::string path = "/v3/" + what;
  const size_t n = c->eps.size();
  size_t failed = 0;     // endpoints that refused this call before applying it
  bool retried = false;  // the one retry on a fresh connection
  std::string reasons;   // of the endpoints that failed, for the final message
  for (;;) {
    if (!c->conn) {
      c->conn = std::make_unique<HttpConn>(c->loop, c->eps[c->current].addr,
                                           conn_options(c->opts, false));
    }
    const Endpoint& ep = c->eps[c->current];
    const int64_t started = c->loop.now_ms();
    auto posting = c->conn->post(path, body, deadline);
    auto r = co_await std::move(posting);
    if (c->closed) co_return Unexpected{closed_error()};
    std::string why;
    if (r) {
      if (r->status == 200) co_return std::move(r->body);
      Error e = answer_error(ep, what, *r);
      if (e.code != Error::Code::kUnavailable) {
        if (e.code == Error::Code::kUnknown) c->rotate();
        co_return Unexpected{std::move(e)};
      }
      why = std::move(e.detail);  // not applied: another member may have a leader
    } else {
      const HttpError& he = r.error();
      const std::string at = "etcd " + ep.url + ": " + what + ": ";
      switch (he.kind) {
        case HttpError::Kind::kClosed:
          co_return Unexpected{closed_error()};
        case HttpError::Kind::kTimeout:
          c->rotate();  // a hung member: let the next call try another
          co_return Unexpected{
              make_error(Error::Code::kUnknown, at + "no answer within " +
                                                    std::to_string(c->opts.request_timeout_ms) +
                                                    " ms (it may or may not have been applied)")};
        case HttpError::Kind::kBroken:
          if (he.reused_and_silent && idempotent && !retried) {
            retried = true;  // the server had closed the kept connection: once more, afresh
            continue;
          }
          co_return Unexpected{make_error(
              Error::Code::kUnknown, at + he.detail + " (it may or may not have been applied)")};
        case HttpError::Kind::kSend:
          if (he.reused_and_silent && !retried) {
            retried = true;
            continue;
          }
          why = at + he.detail;
          break;
        case HttpError::Kind::kConnect:
          why = "etcd " + ep.url + ": " + he.detail;
          deadline += c->loop.now_ms() - started;  // as HttpConn does for a connect that works
          break;
      }
    }
    if (!reasons.empty()) reasons += "; ";
    reasons += why;
    c->rotate();
    if (++failed < n) continue;
    co_return Unexpected{make_error(Error::Code::kUnavailable,
                                    n == 1 ? why : "every etcd endpoint failed: " + reasons)};
  }
}

// A 200 body that does not parse: the call reached etcd, so its effect is unknown.
Error garbled(const Client::Core& c, std::string_view what, const std::string& why) {
  return make_error(Error::Code::kUnknown, "etcd " + c.eps[c.current].url + ": " +
                                               std::string(what) + ": bad answer: " + why);
}

rt::Task<Res<RangeResult>> do_range(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "kv/range", std::move(body), true);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_range_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "kv/range", p.error())};
  co_return std::move(*p);
}

rt::Task<Res<int64_t>> do_put(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "kv/put", std::move(body), false);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_put_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "kv/put", p.error())};
  co_return *p;
}

rt::Task<Res<int64_t>> do_remove(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "kv/deleterange", std::move(body), false);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_deleterange_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "kv/deleterange", p.error())};
  co_return *p;
}

rt::Task<Res<TxnResult>> do_txn(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "kv/txn", std::move(body), false);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_txn_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "kv/txn", p.error())};
  co_return std::move(*p);
}

rt::Task<Res<Lease>> do_grant(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "lease/grant", std::move(body), false);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_lease_grant_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "lease/grant", p.error())};
  co_return *p;
}

rt::Task<Res<int64_t>> do_keepalive(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "lease/keepalive", std::move(body), true);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_lease_keepalive_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "lease/keepalive", p.error())};
  co_return *p;
}

rt::Task<Res<void>> do_revoke(std::shared_ptr<Client::Core> c, std::string body) {
  auto call = exchange(c, "lease/revoke", std::move(body), false);
  auto r = co_await std::move(call);
  if (!r) co_return Unexpected{r.error()};
  auto p = parse_lease_revoke_response(*r);
  if (!p) co_return Unexpected{garbled(*c, "lease/revoke", p.error())};
  co_return Res<void>{};
}

}  // namespace

Result<std::unique_ptr<Client>, std::string> Client::create(rt::EventLoop& loop,
                                                            ClientOptions opts) {
  auto eps = parse_endpoints(opts);
  if (!eps) return Unexpected{eps.error()};
  auto core = std::make_shared<Core>(loop, std::move(opts), std::move(*eps));
  return std::unique_ptr<Client>(new Client(std::move(core)));
}

Client::Client(std::shared_ptr<Core> core) : core_(std::move(core)) {}

Client::~Client() { close(); }

rt::Task<Res<RangeResult>> Client::range(std::string key, std::string range_end, bool count_only) {
  return do_range(core_, range_request(key, range_end, count_only));
}

rt::Task<Res<int64_t>> Client::put(std::string key, std::string value, int64_t lease) {
  return do_put(core_, put_request(key, value, lease));
}

rt::Task<Res<int64_t>> Client::remove(std::string key, std::string range_end) {
  return do_remove(core_, deleterange_request(key, range_end));
}

rt::Task<Res<TxnResult>> Client::txn(std::vector<Compare> cmp, std::vector<TxnOp> success,
                                     std::vector<TxnOp> failure) {
  return do_txn(core_, txn_request(cmp, success, failure));
}

rt::Task<Res<Lease>> Client::lease_grant(int64_t ttl_s) {
  return do_grant(core_, lease_grant_request(ttl_s));
}

rt::Task<Res<int64_t>> Client::lease_keepalive(int64_t id) {
  return do_keepalive(core_, lease_keepalive_request(id));
}

rt::Task<Res<void>> Client::lease_revoke(int64_t id) {
  return do_revoke(core_, lease_revoke_request(id));
}

const std::string& Client::endpoint() const { return core_->eps[core_->current].url; }

void Client::close() {
  if (core_->closed) return;
  core_->closed = true;
  core_->gate.close();
  if (core_->conn) core_->conn->abort();
}

bool Client::closed() const { return core_->closed; }

int Client::pending() const { return core_->pending; }

// ---- Watcher --------------------------------------------------------------------------------

namespace {

// The back-off between attempts to get a watch going (full jitter, floored).
constexpr int64_t kBackoffMinMs = 100;
constexpr int64_t kBackoffMaxMs = 5000;

// An interruptible sleep: stop() must not wait out a 5 s back-off.
class Pause {
 public:
  explicit Pause(rt::EventLoop& loop) : loop_(loop) {}
  ~Pause() { loop_.timers().cancel(node_); }

  struct Awaiter {
    Pause& p;
    int64_t ms;
    bool await_ready() const { return ms <= 0 || p.cancelled_; }
    void await_suspend(std::coroutine_handle<> h) {
      p.h_ = h;
      p.node_.ctx = &p;
      p.node_.fire = [](rt::TimerNode* n) {
        auto* self = static_cast<Pause*>(n->ctx);
        std::exchange(self->h_, {}).resume();
      };
      p.loop_.arm_timer_ms(p.node_, ms);
    }
    void await_resume() const {}
  };
  Awaiter sleep(int64_t ms) { return Awaiter{*this, ms}; }
  // Ends the sleep in progress (on a later turn of the loop) and every later one at once.
  void cancel() {
    cancelled_ = true;
    loop_.timers().cancel(node_);
    if (h_) loop_.defer(std::exchange(h_, {}));
  }

 private:
  rt::EventLoop& loop_;
  rt::TimerNode node_;
  std::coroutine_handle<> h_;
  bool cancelled_ = false;
};

// Resumes the coroutine on a later turn of the loop: start() returns before any callback.
struct NextTurn {
  rt::EventLoop& loop;
  bool await_ready() const { return false; }
  void await_suspend(std::coroutine_handle<> h) { loop.defer(h); }
  void await_resume() const {}
};

}  // namespace

struct Watcher::State {
  State(rt::EventLoop& l, ClientOptions o, std::string p, WatchCallbacks c, uint64_t seed)
      : loop(l), opts(std::move(o)), prefix(std::move(p)), cb(std::move(c)), rng(seed), pause(l) {}

  rt::EventLoop& loop;
  ClientOptions opts;
  std::string prefix;
  WatchCallbacks cb;
  SplitMix64 rng;
  Pause pause;
  std::vector<Endpoint> eps;
  std::string bad_endpoints;  // why the endpoints were refused, if they were
  size_t current = 0;
  std::unique_ptr<HttpConn> conn;  // to eps[current]
  int64_t revision = 0;            // applied to the mirror
  bool need_list = true;
  bool started = false, stopped = false, running = false;
  bool connected = false;
  bool reported_down = false;  // on_state(false) said since the last on_state(true)

  void set_state(bool up, std::string why) {
    if (up == connected && (up || reported_down)) return;
    connected = up;
    reported_down = !up;
    if (!stopped && cb.on_state) cb.on_state(up, std::move(why));
  }
};

namespace {

enum class Ended : uint8_t { kBroken, kCompacted, kStopped };

// One attempt: list when needed, then watch until the stream ends. *why: for on_state.
rt::Task<Ended> watch_once(std::shared_ptr<Watcher::State> s, std::string* why) {
  const std::string key = s->prefix.empty() ? std::string(1, '\0') : s->prefix;
  const std::string end = prefix_end(s->prefix);
  const Endpoint& ep = s->eps[s->current];
  const std::string at = "etcd " + ep.url + ": ";
  if (!s->conn) s->conn = std::make_unique<HttpConn>(s->loop, ep.addr, conn_options(s->opts, true));
  const int64_t timeout = std::max<int64_t>(1, s->opts.request_timeout_ms);
  if (s->need_list) {
    auto listing =
        s->conn->post("/v3/kv/range", range_request(key, end), s->loop.now_ms() + timeout);
    auto r = co_await std::move(listing);
    if (s->stopped) co_return Ended::kStopped;
    if (!r) {
      *why = at + "list: " + r.error().detail;
      co_return Ended::kBroken;
    }
    if (r->status != 200) {
      *why = answer_error(ep, "list", *r).detail;
      co_return Ended::kBroken;
    }
    auto list = parse_range_response(r->body);
    if (!list) {
      *why = at + "list: bad answer: " + list.error();
      co_return Ended::kBroken;
    }
    s->need_list = false;
    s->revision = list->revision;
    if (s->cb.on_reset) s->cb.on_reset(std::move(list->kvs), list->revision);
    if (s->stopped) co_return Ended::kStopped;
  }
  Ended ended = Ended::kBroken;
  bool failed = false;  // *why is set
  // Called from inside the stream below, while this frame (and so *s, ended, failed) lives.
  Watcher::State* st = s.get();
  auto on_object = [st, &ended, &failed, why, at](std::string_view obj) {
    if (st->stopped) return false;
    auto m = parse_watch_message(obj);
    if (!m) {  // etcd's error on the stream (no leader, shutting down) or garbage
      auto ge = parse_gateway_error(obj);
      *why = at + "watch: " +
             (ge ? ge->message + " (code " + std::to_string(ge->code) + ")" : m.error());
      failed = true;
      return false;
    }
    if (m->canceled) {
      if (m->compact_revision > 0) {
        ended = Ended::kCompacted;
      } else {
        *why = at + "watch canceled by etcd" +
               (m->cancel_reason.empty() ? std::string() : ": " + m->cancel_reason);
        failed = true;
      }
      return false;
    }
    if (m->created) {
      st->set_state(true, "");
    } else if (!m->events.empty()) {
      // Resume point: the last event's revision, not the header's (a catch-up batch may stop
      // short of the store's revision that the header carries). Events are passed on as they
      // come, never dropped: applying one twice to a mirror changes nothing.
      int64_t last = 0;
      for (const Event& e : m->events) last = std::max(last, e.kv.mod_revision);
      st->revision = std::max(st->revision, last);
      if (st->cb.on_events) st->cb.on_events(std::move(m->events), last);
    } else if (m->revision > 0 && m->revision >= st->revision) {
      // Progress: every event up to m->revision has been sent (etcd sends these only for a
      // watch that has caught up), so the mirror is current up to it.
      st->revision = m->revision;
      if (st->cb.on_progress) st->cb.on_progress(m->revision);
    }
    return !st->stopped;
  };
  auto streaming = s->conn->stream("/v3/watch", watch_create_request(key, end, s->revision + 1),
                                   s->loop.now_ms() + timeout, std::move(on_object));
  auto r = co_await std::move(streaming);
  if (s->stopped) co_return Ended::kStopped;
  if (!r) {
    *why = at + "watch: " + r.error().detail;
    co_return Ended::kBroken;
  }
  if (r->status != 200) {
    *why = answer_error(ep, "watch", *r).detail;
    co_return Ended::kBroken;
  }
  if (ended == Ended::kCompacted) {
    s->conn->disconnect();  // the stream is still open on etcd's side
    co_return Ended::kCompacted;
  }
  if (!failed) *why = at + "watch: the stream ended";
  co_return Ended::kBroken;
}

rt::Task<void> run_watch(std::shared_ptr<Watcher::State> s) {
  s->running = true;
  NextTurn later{s->loop};
  co_await later;
  int retry = 0;
  while (!s->stopped) {
    std::string why;
    const bool listing = s->need_list;
    auto attempt = watch_once(s, &why);
    const Ended ended = co_await std::move(attempt);
    if (ended == Ended::kStopped || s->stopped) break;
    if (s->connected) retry = 0;  // it was up: the next break starts the back-off afresh
    if (ended == Ended::kCompacted) {
      s->need_list = true;
      if (!listing) continue;  // the resume point was compacted: list again, at once
      // Compacted between our list and our watch: etcd compacts faster than we can list.
      // Back off rather than spin.
      why = "etcd " + s->eps[s->current].url + ": watch: revision compacted right after a list";
    }
    s->set_state(false, why);
    s->conn.reset();
    s->current = (s->current + 1) % s->eps.size();
    const int64_t wait = std::max(
        kBackoffMinMs, resilience::backoff_ms(kBackoffMinMs, kBackoffMaxMs, retry, s->rng));
    ++retry;
    auto sleeping = s->pause.sleep(wait);
    co_await sleeping;
  }
  s->conn.reset();
  s->running = false;
}

}  // namespace

Watcher::Watcher(rt::EventLoop& loop, ClientOptions opts, std::string prefix, WatchCallbacks cb,
                 uint64_t seed)
    : s_(std::make_shared<State>(loop, std::move(opts), std::move(prefix), std::move(cb), seed)) {
  auto eps = parse_endpoints(s_->opts);
  if (eps) {
    s_->eps = std::move(*eps);
  } else {
    s_->bad_endpoints = eps.error();
  }
}

Watcher::~Watcher() { stop(); }

void Watcher::start() {
  if (s_->started || s_->stopped) return;
  s_->started = true;
  if (s_->eps.empty()) {
    s_->set_state(false, s_->bad_endpoints);
    return;
  }
  rt::spawn(run_watch(s_));
}

void Watcher::stop() {
  if (s_->stopped) return;
  s_->stopped = true;
  s_->connected = false;
  if (s_->conn) s_->conn->abort();
  s_->pause.cancel();
}

bool Watcher::connected() const { return s_->connected; }

int64_t Watcher::revision() const { return s_->revision; }

const std::string& Watcher::endpoint() const {
  static const std::string kNone;
  return s_->eps.empty() ? kNone : s_->eps[s_->current].url;
}

bool Watcher::running() const { return s_->running; }

}  // namespace cw::etcd
