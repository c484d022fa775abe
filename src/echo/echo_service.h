// The synthetic echo service behind `causeway echo`, the demo, tests and benchmarks: every
// request gets a small JSON description of itself, with optional injected latency and faults.
// Its own library (causeway_echo), not linked into the proxy's: it depends on base, runtime,
// http and config (units.h, latency.h) only.
// Thread contract: EchoServer's methods may be called from any one controlling thread; each
// worker thread runs its own event loop, listener (SO_REUSEPORT) and connections.
//
// Responses (any method, any path):
//   200 application/json  {"service":NAME,"instance":ID,"method":M,"path":P}\n
//       P is the request path without the query; `"body_bytes":N` is added when the request
//       had a body (read and discarded with back-pressure, Content-Length or chunked, any
//       size); `"headers":{...}` (names lower-cased, repeated names joined with ", ") is added
//       when the query has echo_headers=1.
//   /healthz answers 200 {"status":"ok"} (503 {"status":"unhealthy"} after set_healthy(false))
//       and is exempt from latency and faults, so a health checker sees the instance's state,
//       not its injected noise.
//   Faults, in this order: one draw per request picks reset (reset_rate: RST, no answer),
//       hang (hang_rate: never answer; the connection is held, its input discarded, until the
//       client closes or 10 minutes pass) or error (error_rate: 503
//       {"service":...,"instance":...,"error":"injected"}); the rates are exclusive shares of
//       requests, so their sum must not exceed 1. Latency (and ?delay) is slept on the event
//       loop before a reset, an error or an answer.
//   Query knobs, per request (values are not percent-decoded):
//       ?echo_headers=1   add the request headers to the JSON
//       ?status=NNN       answer with that status (200-599; 204 and 304 have no body)
//       ?size=N           body of exactly N bytes (up to 1 GiB; units as in the config, e.g.
//                         64KiB): the JSON, padded with spaces before its final newline (or
//                         truncated when N is smaller); streamed in 64 KiB writes.
//       ?delay=D          adds D (e.g. 20ms, 1s; a bare number is milliseconds, at most 10m)
//                         to this request's latency
//       A malformed knob value answers 400 {"error":"bad_query","reason":...}.
//   HTTP/1.1 and 1.0, keep-alive, pipelining (answered in order; responses to requests that
//       arrived together leave in one write), HEAD, Connection: close, Expect: 100-continue.
//   WebSocket: GET with Connection: upgrade, Upgrade: websocket and Sec-WebSocket-Key gets 101,
//       then every data frame is echoed (unmasked, same opcode and FIN), ping gets pong, close
//       is answered with close. Frames over 16 MiB close with 1009. Idle limit 10 minutes.
//   Malformed requests: 400 (431 for a head over 64 KiB, 501/505 as the parser says), then
//       close.
// Timeouts: idle keep-alive connections close after keepalive_timeout_ms; a started head must
// complete within 30 s of its last byte; body reads and writes fail after 60 s without progress.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "config/latency.h"
#include "runtime/socket_address.h"

namespace cw::echo {

struct EchoOptions {
  std::string listen = "127.0.0.1:9001";  // ip:port; port 0 picks one (see address())
  std::string name = "echo";              // service name in the body
  std::string instance;                   // instance id; default "<name>-<port>"
  // "" (none), "20ms" fixed, "10ms-50ms" uniform, "exp:20ms" exponential with that mean.
  std::string latency;
  double error_rate = 0, reset_rate = 0, hang_rate = 0;  // exclusive fractions 0..1
  int workers = 1;                       // threads, each with its own SO_REUSEPORT listener (1-256)
  int64_t keepalive_timeout_ms = 60000;  // close idle keep-alive connections after this
  uint64_t seed = 0;                     // fault/latency randomness; 0 = random
};

// nullopt when the options are valid; otherwise a message naming the flag, e.g.
// "--latency: expected 20ms, 10ms-50ms or exp:20ms, got \"fast\"".
std::optional<std::string> check_echo_options(const EchoOptions& options);

// Totals over all workers; read while running (relaxed, may lag by a few requests).
struct EchoStats {
  uint64_t connections = 0;  // accepted
  uint64_t active_connections = 0;
  uint64_t requests = 0;  // heads parsed (including ones answered by a fault)
  uint64_t injected_errors = 0;
  uint64_t injected_resets = 0;
  uint64_t injected_hangs = 0;
  uint64_t bad_requests = 0;  // malformed heads, bodies or knobs
  uint64_t websockets = 0;    // upgrades accepted
};

namespace detail {
struct EchoShared;
struct EchoWorker;
}  // namespace detail

class EchoServer {
 public:
  // Validates the options, binds every worker's listener (an error names the address, e.g.
  // "127.0.0.1:9001: address already in use") and starts the worker threads.
  static Result<std::unique_ptr<EchoServer>> start(const EchoOptions& options, std::string& error);
  ~EchoServer();  // stop() + wait()
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  // The bound address (the real port when the options said port 0).
  rt::SocketAddress address() const { return address_; }
  const std::string& instance() const { return instance_; }
  // Closes the listeners and every connection (sleeping requests are woken and dropped);
  // workers exit once their connections are gone. Idempotent; returns without waiting.
  void stop();
  // Blocks until every worker thread has exited (after stop(), or forever).
  void wait();
  // /healthz answers 503 while false. Thread-safe.
  void set_healthy(bool healthy);
  EchoStats stats() const;

 private:
  EchoServer();
  rt::SocketAddress address_;
  std::string instance_;
  std::unique_ptr<detail::EchoShared> shared_;  // outlives the workers that read it
  std::vector<std::unique_ptr<detail::EchoWorker>> workers_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace cw::echo
