// Attempt: one try at an upstream, as an object. In the order a try meets them: pick a host
// (the cluster's balancer), admit it (circuit-breaker limits: max_requests, max_connections),
// take a pooled connection (or wait for one in the host's pool queue, bounded by max_pending and
// pool.queue_timeout) or connect, send
// the head and stream the body, await the response head. It ends with a TryResult naming the
// cause; the retry policy above decides on the next try, and on success the forwarder streams
// the response through the attempt's codec. Counters it raises are held by guards, so no path
// forgets to lower them; a connection it holds goes back to the pool or is closed when it ends.
// Thread contract: one request's, on the worker that owns the client connection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/counter.h"
#include "base/random.h"
#include "http/message.h"
#include "proxy/request_body.h"
#include "proxy/spans.h"
#include "proxy/upstream_connector.h"
#include "runtime/event_loop.h"
#include "upstream/cluster.h"

namespace cw::proxy {

enum class TryCause : uint8_t {
  kOk,
  kNoHost,         // every host unavailable (down, backing off, or excluded)
  kPoolExhausted,  // the host's pool is at max_connections and no connection came free in time
  kOverflow,       // a circuit-breaker limit refused the try (TryResult::limit names it)
  kConnectRefused,
  kConnectTimeout,
  kConnectFailed,        // other connect errors
  kResetBeforeResponse,  // the connection closed or reset before any response byte
  kResetDuringResponse,  // ... after part of a response head arrived
  kTimeout,              // no response head before the deadline
  kBadResponse,          // a malformed or oversized response head
  kClientBodyTimeout,    // the client's body stalled: the client's fault, not the upstream's
  kClientBadBody,        // malformed request body framing
  kClientGone,           // the client connection broke mid-body
};

// "connect_refused", "reset_before_response", ...: for spans, logs and tests.
std::string_view try_cause_name(TryCause c);
// Connect failures: nothing reached the upstream.
inline bool is_connect_failure(TryCause c) {
  return c == TryCause::kConnectRefused || c == TryCause::kConnectTimeout ||
         c == TryCause::kConnectFailed;
}
inline bool is_client_failure(TryCause c) {
  return c == TryCause::kClientBodyTimeout || c == TryCause::kClientBadBody ||
         c == TryCause::kClientGone;
}

struct TryResult {
  TryCause cause = TryCause::kOk;
  int host = -1;                  // index in the cluster, -1 when none was picked
  bool reused = false;            // the connection came from the pool
  bool request_complete = false;  // the whole request went out
  bool response_started = false;  // some response bytes arrived
  std::string detail;             // e.g. the connect error's text (failures only)
  resilience::Limit limit = resilience::Limit::kNone;  // kOverflow: the limit that refused it
  bool ok() const { return cause == TryCause::kOk; }
};

// Where the next try goes, as the retry policy says.
struct TryPlan {
  int exclude = -1;               // a host not to pick (the one that just failed)
  bool fresh_connection = false;  // do not take a pooled connection
};

class RetryPolicy;

// What every try of one request shares: the cluster view, the deadlines, the head transform,
// the body. Built once per request by the forwarder.
struct TryContext {
  rt::EventLoop& loop;
  BufferPool& buffers;
  UpstreamConnector& connector;
  upstream::WorkerCluster& cluster;
  const upstream::LbContext& lb;
  const http::RequestHead& req;
  const http::HeaderTransform& transform;
  http::BodyFraming framing;  // as stated upstream
  RequestBody& body;
  Spans& spans;
  int64_t deadline;         // the request's: route timeout from the request head, shortened by
                            // a trusted x-causeway-deadline / grpc-timeout (loop ms)
  int64_t body_timeout_ms;  // longest wait for the next request body bytes
  int64_t io_idle_ms;       // longest wait for an upstream write
  // The route's retry policy for this request; null = the default (see retry_policy.h).
  RetryPolicy* retry = nullptr;
  SplitMix64* rng = nullptr;  // the worker's, for back-off jitter
  // Written by each try just before its head goes out: the budget left for it (ms), which the
  // head transform states upstream as x-causeway-deadline. -1 until the first try sends.
  int64_t deadline_left_ms = -1;
};

class Attempt {
 public:
  explicit Attempt(TryContext& ctx) : ctx_(ctx) {}
  ~Attempt() { finish(false); }
  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  // Runs the try; on success `resp` holds the final response head and codec() its body.
  rt::Task<TryResult> run(TryPlan plan, http::ResponseHead& resp);

  UpstreamCodec& codec() { return *codec_; }
  const upstream::Host& host() const { return ctx_.cluster.host(size_t(host_)); }
  upstream::HostRuntime& host_runtime() { return *hr_; }

  // Ends the exchange: the connection returns to the pool when `complete` and the codec says
  // it can carry another request; otherwise it is closed. In-flight counts drop. Idempotent.
  void finish(bool complete);

 private:
  // Picks a host and takes a pooled connection, or reserves room for a new one. kPoolExhausted:
  // the host's pool is full (the caller may queue).
  TryCause pick_and_checkout(const TryPlan& plan);
  // The host's pool is full: waits in its FIFO queue for a connection or a slot, when the
  // queue has room (max_pending) and time is left (pool.queue_timeout, the route deadline).
  rt::Task<TryResult> wait_in_queue(bool fresh_connection);
  TryCause overflow(resilience::Limit l);  // counts the refusal, names the limit
  rt::Task<TryResult> connect();  // into the reserved room
  void start_exchange();          // counts the request in flight, starts the codec
  TryResult client_failure(const std::error_code& ec);
  int64_t body_deadline() const;
  int64_t per_try_timeout_ms() const;
  // Reports the try's outcome to the cluster (outlier detection, host breaker) once per picked
  // host: the response status when r is ok, else its cause. Returns r.
  TryResult settle(TryResult r, int status = 0);

  TryContext& ctx_;
  int host_ = -1;
  int64_t try_deadline_ = 0;  // the request's deadline, shortened by the per-try timeout
  upstream::HostRuntime* hr_ = nullptr;
  std::shared_ptr<upstream::ConnPool> pool_;
  std::unique_ptr<upstream::UpstreamConn> conn_;
  CodecSlot slot_;
  UpstreamCodec* codec_ = nullptr;
  GaugeHold active_;    // the host's in-flight requests, while this try holds it
  GaugeHold admitted_;  // the cluster's admitted tries (max_requests), from admission to finish
  resilience::Limit limit_ = resilience::Limit::kNone;  // what refused the last try
  bool outcome_due_ = false;  // a host was picked and its outcome not yet reported
};

// Runs tries until one succeeds or the retry policy stops, recording each retry's cause in the
// spans. On success `resp` holds the response head and `attempt` the exchange to relay. The
// result's host is the last one tried (-1 if none was).
rt::Task<TryResult> run_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp);
// The tries after a failed first one (`first`); run_tries is `attempt.run` then this. The
// forwarder calls the two itself so a request that succeeds at once pays for no retry loop.
rt::Task<TryResult> retry_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp,
                                TryResult first);

}  // namespace cw::proxy
