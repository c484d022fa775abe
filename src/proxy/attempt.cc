// One try at an upstream (see attempt.h). Thread contract: see attempt.h.
#include "proxy/attempt.h"

#include <algorithm>

#include "proxy/retry_policy.h"
#include "resilience/backoff.h"
#include "resilience/deadline.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

TryCause connect_cause(const std::error_code& ec) {
  if (ec == std::errc::connection_refused) return TryCause::kConnectRefused;
  if (ec == std::errc::timed_out) return TryCause::kConnectTimeout;
  return TryCause::kConnectFailed;
}

TryCause client_cause(const std::error_code& ec) {
  if (ec == std::errc::timed_out) return TryCause::kClientBodyTimeout;
  if (ec == std::errc::bad_message) return TryCause::kClientBadBody;
  return TryCause::kClientGone;
}

// What a failed try says about its host. A reset on a reused connection before any answer is
// the keep-alive race (the pool's fault, retried on a fresh connection), not the host's.
resilience::Outcome outcome_of(const TryResult& r) {
  switch (r.cause) {
    case TryCause::kResetBeforeResponse:
      return r.reused ? resilience::Outcome::kNeutral : resilience::Outcome::kGatewayFailure;
    case TryCause::kConnectRefused:
    case TryCause::kConnectTimeout:
    case TryCause::kConnectFailed:
    case TryCause::kResetDuringResponse:
    case TryCause::kTimeout:
    case TryCause::kBadResponse:
      return resilience::Outcome::kGatewayFailure;
    default:
      return resilience::Outcome::kNeutral;
  }
}

TryResult failed(TryCause c, std::string detail = {}) {
  TryResult r;
  r.cause = c;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

std::string_view try_cause_name(TryCause c) {
  switch (c) {
    case TryCause::kOk:
      return "ok";
    case TryCause::kNoHost:
      return "no_host";
    case TryCause::kPoolExhausted:
      return "pool_exhausted";
    case TryCause::kOverflow:
      return "overflow";
    case TryCause::kConnectRefused:
      return "connect_refused";
    case TryCause::kConnectTimeout:
      return "connect_timeout";
    case TryCause::kConnectFailed:
      return "connect_failed";
    case TryCause::kResetBeforeResponse:
      return "reset_before_response";
    case TryCause::kResetDuringResponse:
      return "reset_during_response";
    case TryCause::kTimeout:
      return "timeout";
    case TryCause::kBadResponse:
      return "bad_response";
    case TryCause::kClientBodyTimeout:
      return "client_body_timeout";
    case TryCause::kClientBadBody:
      return "client_bad_body";
    case TryCause::kClientGone:
      return "client_gone";
  }
  return "unknown";
}

int64_t Attempt::body_deadline() const {
  // The route timeout runs from the request head, so a client trickling its body cannot hold
  // the exchange past it; between pieces, the body read timeout bounds each wait.
  return std::min(ctx_.deadline, ctx_.loop.now_ms() + ctx_.body_timeout_ms);
}

int64_t Attempt::per_try_timeout_ms() const {
  return ctx_.retry ? ctx_.retry->per_try_timeout_ms() : 0;
}

rt::Task<TryResult> Attempt::run(TryPlan plan, http::ResponseHead& resp) {
  finish(false);  // a previous try's leftovers, if the caller reuses the object
  // The common path (a pooled connection, a request without a body) suspends only on the
  // socket: picking, checking out and starting the exchange are plain calls.
  TryResult r;
  const int64_t now = ctx_.loop.now_ms();
  if (now >= ctx_.deadline) {  // a try is never started past the request's deadline
    r.cause = TryCause::kTimeout;
    r.detail = "deadline passed before the try";
    co_return r;
  }
  try_deadline_ = resilience::try_deadline(ctx_.deadline, now, per_try_timeout_ms());
  r.cause = pick_and_checkout(plan);
  if (r.cause == TryCause::kPoolExhausted) r = co_await wait_in_queue(plan.fresh_connection);
  if (r.ok() && !conn_) r = co_await connect();
  r.host = host_;
  r.limit = limit_;
  if (!r.ok()) co_return settle(std::move(r));
  r.reused = conn_->reused;

  start_exchange();
  const int64_t io_idle = ctx_.io_idle_ms;
  RequestBody& body = ctx_.body;
  // The head goes out with the first body piece (often all of it) in one write.
  Downstream::Piece piece{{}, true};
  if (body.pending()) {
    auto p = co_await body.next(body_deadline());
    if (!p) co_return client_failure(p.error());
    piece = *p;
  }
  ctx_.deadline_left_ms = try_deadline_ - ctx_.loop.now_ms();
  auto w = co_await slot_.send_head(ctx_.req, ctx_.transform, ctx_.framing, piece.data, piece.end,
                                    ctx_.loop.now_ms() + io_idle);
  bool end = piece.end;
  while (w && !end) {
    auto p = co_await body.next(body_deadline());
    if (!p) co_return client_failure(p.error());
    end = p->end;
    if (p->data.empty() && !end) continue;
    w = co_await codec_->send_body(p->data, end, ctx_.loop.now_ms() + io_idle);
  }
  ctx_.spans.sent_ns = rt::mono_ns();
  r.request_complete = bool(w);

  // Even when sending failed, read: the upstream may have answered early (a 413, a 401) and
  // closed; that answer is the one to relay.
  auto h = co_await slot_.read_head(resp, try_deadline_);
  r.response_started = codec_->response_started();
  if (h) co_return settle(std::move(r), resp.status);
  hr_->counters->failures.inc();
  if (h.error() == std::errc::timed_out) {
    r.cause = TryCause::kTimeout;
    if (try_deadline_ < ctx_.deadline) r.detail = "no response within the per-try timeout";
  } else if (h.error() == std::errc::bad_message) {
    r.cause = TryCause::kBadResponse;
    r.detail = "malformed response";
  } else {
    r.cause = r.response_started ? TryCause::kResetDuringResponse : TryCause::kResetBeforeResponse;
    r.detail = w ? "connection closed before response" : "connection reset while sending";
  }
  co_return settle(std::move(r));
}

TryResult Attempt::settle(TryResult r, int status) {
  if (!outcome_due_) return r;
  outcome_due_ = false;
  ctx_.cluster.on_try_outcome(size_t(host_),
                              r.ok() ? resilience::outcome_of_status(status) : outcome_of(r));
  return r;
}

TryResult Attempt::client_failure(const std::error_code& ec) {
  TryResult r = failed(client_cause(ec));
  r.host = host_;
  r.reused = conn_ && conn_->reused;
  return settle(std::move(r));
}

TryCause Attempt::overflow(resilience::Limit l) {
  ctx_.cluster.reject(l);
  limit_ = l;
  return TryCause::kOverflow;
}

TryCause Attempt::pick_and_checkout(const TryPlan& plan) {
  using resilience::Limit;
  upstream::WorkerCluster& cluster = ctx_.cluster;
  upstream::ClusterStats& st = cluster.stats();
  host_ = -1;
  limit_ = Limit::kNone;
  // Breaker checks read this worker's own counts against its share: no shared state.
  if (!cluster.limits().admits(Limit::kMaxRequests, st.active_requests.get()))
    return overflow(Limit::kMaxRequests);
  host_ = cluster.pick(ctx_.lb, plan.exclude);
  if (host_ < 0) return TryCause::kNoHost;
  outcome_due_ = true;
  hr_ = &cluster.runtime(size_t(host_));
  pool_ = hr_->pool;
  const int64_t t0 = rt::mono_ns();
  conn_ = plan.fresh_connection ? nullptr : pool_->checkout();
  ctx_.spans.pool_ns += rt::mono_ns() - t0;
  if (!conn_) {
    if (pool_->full()) {
      st.pool_exhausted.inc();
      return TryCause::kPoolExhausted;
    }
    if (!cluster.limits().admits(Limit::kMaxConnections, st.open_connections.get()))
      return overflow(Limit::kMaxConnections);
    (void)pool_->reserve();  // cannot fail: the pool is not full
  }
  admitted_.hold(st.active_requests);
  return TryCause::kOk;  // with a pooled connection, or a reserved slot to connect in
}

rt::Task<TryResult> Attempt::wait_in_queue(bool fresh_connection) {
  using resilience::Limit;
  upstream::WorkerCluster& cluster = ctx_.cluster;
  upstream::ClusterStats& st = cluster.stats();
  const int64_t queue_ms = cluster.snapshot().settings.pool.queue_timeout.count();
  const int64_t now = ctx_.loop.now_ms();
  const int64_t deadline = std::min(now + queue_ms, ctx_.deadline);
  // A pool with nothing open has nothing to give back (a limit of 0): do not wait for it.
  if (queue_ms <= 0 || deadline <= now || pool_->open() == 0) {
    co_return failed(TryCause::kPoolExhausted, "the host's pool is full");
  }
  if (!cluster.limits().admits(Limit::kMaxPending, st.pending.get()))
    co_return failed(overflow(Limit::kMaxPending));
  GaugeHold pending(st.pending);
  GaugeHold host_pending(hr_->counters->pending);
  const int64_t t0 = rt::mono_ns();
  upstream::PoolWait wait(*pool_, deadline);
  const upstream::PoolWait::Outcome got = co_await wait;
  const int64_t waited = rt::mono_ns() - t0;
  ctx_.spans.queue_ns += waited;
  st.queue_wait.observe_us(uint64_t(waited / 1000));
  switch (got) {
    case upstream::PoolWait::Outcome::kTimeout:
      st.queue_timeouts.inc();
      co_return failed(TryCause::kPoolExhausted,
                       "no connection came free within " + std::to_string(deadline - now) +
                           "ms in the pool queue");
    case upstream::PoolWait::Outcome::kConnection:
      conn_ = wait.take_connection();
      // A try that must not reuse keeps the connection's slot and opens a new one in it.
      if (fresh_connection) conn_.reset();
      break;
    case upstream::PoolWait::Outcome::kSlot:
      break;
  }
  admitted_.hold(st.active_requests);
  co_return TryResult{};
}

rt::Task<TryResult> Attempt::connect() {
  upstream::WorkerCluster& cluster = ctx_.cluster;
  const int64_t c0 = rt::mono_ns();
  const int64_t left = try_deadline_ - ctx_.loop.now_ms();
  const int64_t timeout = std::max<int64_t>(
      1, std::min<int64_t>(cluster.snapshot().settings.connect_timeout.count(), left));
  auto s = co_await ctx_.connector.connect(ctx_.loop, cluster.host(size_t(host_)), timeout);
  ctx_.spans.connect_ns += rt::mono_ns() - c0;
  if (!s) {
    admitted_.release();
    pool_->unreserve();
    cluster.on_connect_failure(size_t(host_));
    cluster.stats().connect_failures.inc();
    hr_->counters->failures.inc();
    co_return failed(connect_cause(s.error()), s.error().message());
  }
  cluster.on_connect_success(size_t(host_));
  cluster.stats().connects.inc();
  conn_ = std::make_unique<upstream::UpstreamConn>();
  conn_->stream = std::move(*s);
  co_return TryResult{};
}

void Attempt::start_exchange() {
  active_.hold(hr_->counters->active_requests);
  hr_->counters->requests.inc();
  codec_ = &ctx_.connector.start(*conn_, ctx_.req, ctx_.buffers, slot_);
  // Keep the body while on a reused connection: if the upstream closed it as we wrote, the
  // request is re-sent on a fresh one (the keep-alive race).
  ctx_.body.rewind();
  ctx_.body.retain(conn_->reused || (ctx_.retry && ctx_.retry->may_resend_body()));
}

void Attempt::finish(bool complete) {
  if (outcome_due_) settle(failed(TryCause::kClientGone));  // ended unreported: says nothing
  active_.release();
  admitted_.release();
  if (conn_) {
    const bool reuse = complete && codec_ && codec_->reusable();
    codec_ = nullptr;
    slot_.reset();  // the codec's buffers go back before the connection idles
    if (reuse) {
      ++conn_->requests;
      pool_->release(std::move(conn_));
    } else {
      pool_->discard(std::move(conn_));
    }
  }
  codec_ = nullptr;
  slot_.reset();
}

namespace {

upstream::RetryCause retry_cause(const TryResult& r) {
  using upstream::RetryCause;
  if (r.ok()) return RetryCause::kStatus;
  if (is_connect_failure(r.cause)) return RetryCause::kConnectFailure;
  if (r.cause == TryCause::kTimeout) return RetryCause::kTimeout;
  if (r.cause == TryCause::kBadResponse) return RetryCause::kBadResponse;
  return RetryCause::kReset;
}

// "2 127.0.0.3:9002 reset_before_response" or "3 127.0.0.2:9001 200": one try, for the spans.
void record_try(TryContext& ctx, const TryResult& r, int status) {
  std::string t = std::to_string(ctx.spans.tries.size() + 1);
  t += ' ';
  t += r.host >= 0 ? std::string_view(ctx.cluster.host(size_t(r.host)).key) : "-";
  t += ' ';
  t += r.ok() ? std::to_string(status) : std::string(try_cause_name(r.cause));
  ctx.spans.tries.push_back(std::move(t));
}

}  // namespace

rt::Task<TryResult> retry_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp,
                                TryResult r) {
  RetryPolicy fallback(nullptr, false);
  RetryPolicy& policy = ctx.retry ? *ctx.retry : fallback;
  upstream::ClusterStats& stats = ctx.cluster.stats();
  GaugeHold retry_hold;  // this request's place among the cluster's retries in flight
  int last_host = -1;
  for (;;) {
    if (r.host < 0) r.host = last_host;  // the error names the last host tried, if any
    last_host = r.host;
    const int status = r.ok() ? resp.status : 0;
    // A response goes to the client unless its status is one to retry on.
    const bool answered = r.ok() && !policy.wants_status(status);
    record_try(ctx, r, status);
    if (answered) co_return r;
    const RetryPolicy::Facts facts{ctx.cluster.size(), ctx.loop.now_ms() < ctx.deadline,
                                   ctx.body.replayable()};
    const RetryPolicy::Decision d = policy.decide(r, status, facts);
    // What the client gets when no other try goes: the last answer, or the last error.
    auto last = [&]() {
      if (!r.ok()) attempt.finish(false);
      return r;
    };
    if (!d.retry) co_return last();
    if (d.counted) {
      const int64_t wait =
          ctx.rng ? resilience::backoff_ms(policy.backoff_base_ms(), policy.backoff_max_ms(),
                                           policy.retries_done() - 1, *ctx.rng)
                  : 0;
      // A retry that could not start before the deadline is not worth its budget.
      if (ctx.loop.now_ms() + wait >= ctx.deadline) co_return last();
      // circuit_breaker.max_retries: retries in flight at once (the hold lasts until this
      // request's tries end); then the budget: retries as a share of requests.
      if (!ctx.cluster.try_admit_retry(retry_hold)) co_return last();
      if (!ctx.cluster.retry_budget().try_withdraw(ctx.loop.now_ms())) {
        stats.retry_budget_exhausted.inc();
        co_return last();
      }
      stats.retries[size_t(retry_cause(r))].inc();
      attempt.finish(false);  // a response being retried is dropped with its connection
      if (wait > 0) co_await rt::sleep_for(ctx.loop, wait);
    } else if (d.next.fresh_connection) {
      stats.reused_conn_resends.inc();
    }
    if (!ctx.spans.retries.empty()) ctx.spans.retries += ',';
    ctx.spans.retries += d.reason;
    r = co_await attempt.run(d.next, resp);
  }
}

rt::Task<TryResult> run_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp) {
  TryResult r = co_await attempt.run({}, resp);
  if (!r.ok() || (ctx.retry && ctx.retry->wants_status(resp.status)))
    r = co_await retry_tries(ctx, attempt, resp, std::move(r));
  co_return r;
}

}  // namespace cw::proxy
