// One try at an upstream (see attempt.h). Thread contract: see attempt.h.
#include "proxy/attempt.h"

#include <algorithm>

#include "proxy/retry_policy.h"
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

rt::Task<TryResult> Attempt::run(TryPlan plan, http::ResponseHead& resp) {
  finish(false);  // a previous try's leftovers, if the caller reuses the object
  // The common path (a pooled connection, a request without a body) suspends only on the
  // socket: picking, checking out and starting the exchange are plain calls.
  TryResult r;
  r.cause = pick_and_checkout(plan);
  if (r.ok() && !conn_) r = co_await connect();
  r.host = host_;
  if (!r.ok()) co_return r;
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
  auto h = co_await slot_.read_head(resp, ctx_.deadline);
  r.response_started = codec_->response_started();
  if (h) co_return r;
  hr_->counters->failures.inc();
  if (h.error() == std::errc::timed_out) {
    r.cause = TryCause::kTimeout;
  } else if (h.error() == std::errc::bad_message) {
    r.cause = TryCause::kBadResponse;
    r.detail = "malformed response";
  } else {
    r.cause = r.response_started ? TryCause::kResetDuringResponse : TryCause::kResetBeforeResponse;
    r.detail = w ? "connection closed before response" : "connection reset while sending";
  }
  co_return r;
}

TryResult Attempt::client_failure(const std::error_code& ec) {
  TryResult r = failed(client_cause(ec));
  r.host = host_;
  r.reused = conn_ && conn_->reused;
  return r;
}

TryCause Attempt::pick_and_checkout(const TryPlan& plan) {
  upstream::WorkerCluster& cluster = ctx_.cluster;
  host_ = cluster.pick(ctx_.lb, plan.exclude);
  if (host_ < 0) return TryCause::kNoHost;
  hr_ = &cluster.runtime(size_t(host_));
  pool_ = hr_->pool;
  const int64_t t0 = rt::mono_ns();
  conn_ = plan.fresh_connection ? nullptr : pool_->checkout();
  ctx_.spans.pool_ns += rt::mono_ns() - t0;
  if (!conn_ && !pool_->reserve()) return TryCause::kPoolExhausted;
  return TryCause::kOk;  // with a pooled connection, or a reserved slot to connect in
}

rt::Task<TryResult> Attempt::connect() {
  upstream::WorkerCluster& cluster = ctx_.cluster;
  const int64_t c0 = rt::mono_ns();
  const int64_t left = ctx_.deadline - ctx_.loop.now_ms();
  const int64_t timeout = std::max<int64_t>(
      1, std::min<int64_t>(cluster.snapshot().settings.connect_timeout.count(), left));
  auto s = co_await ctx_.connector.connect(ctx_.loop, cluster.host(size_t(host_)), timeout);
  ctx_.spans.connect_ns += rt::mono_ns() - c0;
  if (!s) {
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
  ctx_.body.retain(conn_->reused);
}

void Attempt::finish(bool complete) {
  active_.release();
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

rt::Task<TryResult> retry_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp,
                                TryResult r) {
  RetryPolicy policy;
  int last_host = -1;
  for (;;) {
    if (r.host < 0) r.host = last_host;  // the error names the last host tried, if any
    last_host = r.host;
    if (r.ok()) co_return r;
    const RetryPolicy::Facts facts{ctx.cluster.size(), ctx.loop.now_ms() < ctx.deadline,
                                   ctx.body.replayable()};
    const RetryPolicy::Decision d = policy.decide(r, facts);
    if (!d.retry) {
      attempt.finish(false);
      co_return r;
    }
    if (d.next.fresh_connection) ctx.cluster.stats().reused_conn_resends.inc();
    if (!ctx.spans.retries.empty()) ctx.spans.retries += ',';
    ctx.spans.retries += d.reason;
    r = co_await attempt.run(d.next, resp);
  }
}

rt::Task<TryResult> run_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp) {
  TryResult r = co_await attempt.run({}, resp);
  if (!r.ok()) r = co_await retry_tries(ctx, attempt, resp, std::move(r));
  co_return r;
}

}  // namespace cw::proxy
