// The echo service's life cycle (see echo_service.h): option checks, start (bind every
// worker's listener, start the threads), stop, stats; per worker, an acceptor coroutine and
// one coroutine per connection (echo/conn.h) on the worker's loop.
// Thread contract: a worker's state belongs to its thread; EchoServer posts stop requests to
// the loops and reads only atomics (health flag, counters).
#include "echo/echo_service.h"

#include <algorithm>
#include <random>

#include "echo/conn.h"
#include "echo/json.h"
#include "echo/worker.h"

namespace cw::echo {
namespace detail {
namespace {

constexpr int64_t kStopGraceMs = 2'000;         // then the loop stops even with stragglers
constexpr size_t kMaxConnsPerWorker = 100'000;  // beyond: accepted and closed at once

rt::Task<void> serve(EchoWorker* w, rt::TcpStream s) {
  EchoConn conn(*w, std::move(s));
  co_await conn.run();
}

void run_worker(EchoWorker* w) {
  // The runtime's one accept loop (as the proxy and the admin listener use): out of
  // descriptors it sheds instead of spinning.
  w->acceptor = std::make_unique<rt::Acceptor>(std::move(w->listener), w->accept_reserve,
                                               w->accept_counters, [w](rt::TcpStream s) {
                                                 if (w->stopping || w->nconns >= kMaxConnsPerWorker)
                                                   return;  // closed on scope exit
                                                 w->stats.connections.inc();
                                                 rt::spawn(serve(w, std::move(s)));
                                               });
  w->loop.run();
  // The acceptor's coroutine ends on a later turn after close(): let it (and any connection
  // the grace timer cut short) finish so no frame is left behind.
  w->acceptor.reset();
  w->loop.run_deferred();
}

}  // namespace

void EchoWorker::begin_stop() {
  if (stopping) return;
  stopping = true;
  if (acceptor) acceptor->close();  // its coroutine resumes with an error and exits
  for (EchoConn* c = conns; c != nullptr; c = c->next()) c->interrupt();
  grace_timer.ctx = this;
  grace_timer.fire = [](rt::TimerNode* n) { static_cast<EchoWorker*>(n->ctx)->loop.stop(); };
  loop.arm_timer_ms(grace_timer, kStopGraceMs);
  maybe_finish();
}

}  // namespace detail

// ---- options ----

std::optional<std::string> check_echo_options(const EchoOptions& o) {
  auto quoted = [](std::string_view s) {
    std::string q;
    detail::append_json_string(q, s);
    return q;
  };
  if (!rt::SocketAddress::parse(o.listen)) {
    return "--listen: expected ip:port (e.g. 127.0.0.1:9001), got " + quoted(o.listen);
  }
  if (o.name.empty() || detail::has_control_chars(o.name)) {
    return "--name: expected a non-empty name without control characters, got " + quoted(o.name);
  }
  if (detail::has_control_chars(o.instance)) {
    return "--instance: control characters are not allowed, got " + quoted(o.instance);
  }
  if (!config::parse_latency(o.latency)) {
    return "--latency: expected 20ms, 10ms-50ms or exp:20ms (at most 10m), got " +
           quoted(o.latency);
  }
  const std::pair<const char*, double> rates[] = {
      {"--error-rate", o.error_rate}, {"--reset-rate", o.reset_rate}, {"--hang-rate", o.hang_rate}};
  for (const auto& [flag, v] : rates) {
    if (!(v >= 0 && v <= 1)) {  // also refuses NaN
      return std::string(flag) + ": expected a fraction between 0 and 1, got " + std::to_string(v);
    }
  }
  if (o.error_rate + o.reset_rate + o.hang_rate > 1 + 1e-9) {
    return std::string(
        "--error-rate + --reset-rate + --hang-rate: must not exceed 1 (each request gets at "
        "most one fault)");
  }
  if (o.workers < 1 || o.workers > 256) {
    return "--workers: expected 1 to 256, got " + std::to_string(o.workers);
  }
  if (o.keepalive_timeout_ms <= 0) {
    return "keepalive timeout: expected a positive number of milliseconds, got " +
           std::to_string(o.keepalive_timeout_ms);
  }
  return std::nullopt;
}

// ---- EchoServer ----

EchoServer::EchoServer() = default;

EchoServer::~EchoServer() {
  stop();
  wait();
}

Result<std::unique_ptr<EchoServer>> EchoServer::start(const EchoOptions& options,
                                                      std::string& error) {
  if (auto bad = check_echo_options(options)) {
    error = *bad;
    return fail(std::errc::invalid_argument);
  }
  rt::SocketAddress addr = *rt::SocketAddress::parse(options.listen);
  // SO_REUSEPORT would happily share a port with another echo; a plain bind says it is taken.
  if (auto probe = rt::probe_bind(addr); !probe) {
    error = "cannot listen on " + options.listen + ": " + probe.error().message();
    return fail(probe.error());
  }

  std::unique_ptr<EchoServer> server(new EchoServer());
  auto shared = std::make_unique<detail::EchoShared>();
  shared->options = options;
  shared->latency = *config::parse_latency(options.latency);
  shared->reset_below = options.reset_rate;
  shared->hang_below = shared->reset_below + options.hang_rate;
  shared->error_below = shared->hang_below + options.error_rate;

  uint64_t seed = options.seed;
  if (seed == 0) {
    std::random_device rd;
    seed = uint64_t(rd()) << 32 | rd();
  }
  for (int i = 0; i < options.workers; ++i) {
    SplitMix64 mix(seed + uint64_t(i) * 0x9e3779b97f4a7c15ULL);
    auto w = std::make_unique<detail::EchoWorker>(*shared, mix.next());
    auto l = rt::TcpListener::bind(w->loop, addr);
    if (!l) {
      error = "cannot listen on " + addr.text() + ": " + l.error().message();
      return fail(l.error());
    }
    w->listener = std::move(*l);
    if (i == 0) addr = w->listener.local_address();  // the real port, for the other workers
    server->workers_.push_back(std::move(w));
  }
  server->address_ = addr;
  server->instance_ = options.instance.empty() ? options.name + "-" + std::to_string(addr.port())
                                               : options.instance;
  shared->json_prefix = "{\"service\":";
  detail::append_json_string(shared->json_prefix, options.name);
  shared->json_prefix += ",\"instance\":";
  detail::append_json_string(shared->json_prefix, server->instance_);
  server->shared_ = std::move(shared);

  for (auto& w : server->workers_) server->threads_.emplace_back(detail::run_worker, w.get());
  return Result<std::unique_ptr<EchoServer>>(std::move(server));
}

void EchoServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : workers_) {
    detail::EchoWorker* worker = w.get();
    worker->loop.post([worker] { worker->begin_stop(); });
  }
}

void EchoServer::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void EchoServer::set_healthy(bool healthy) {
  shared_->healthy.store(healthy, std::memory_order_relaxed);
}

EchoStats EchoServer::stats() const {
  EchoStats s;
  for (const auto& w : workers_) {
    const detail::EchoStatsShard& st = w->stats;
    s.connections += st.connections.get();
    s.active_connections += uint64_t(std::max<int64_t>(0, st.active.get()));
    s.requests += st.requests.get();
    s.injected_errors += st.errors.get();
    s.injected_resets += st.resets.get();
    s.injected_hangs += st.hangs.get();
    s.bad_requests += st.bad.get();
    s.websockets += st.websockets.get();
  }
  return s;
}

}  // namespace cw::echo
