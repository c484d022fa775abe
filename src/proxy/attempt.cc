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
  TryResult r = co_await connect_or_reuse(plan);
  r.host = host_;
  if (!r.ok()) co_return r;
  r.reused = conn_->reused;

  r = co_await send_request();
  r.host = host_;
  r.reused = conn_->reused;
  if (is_client_failure(r.cause)) co_return r;
  // Even when sending failed, read: the upstream may have answered early (a 413, a 401) and
  // closed; that answer is the one to relay.
  const bool send_failed = !r.ok();
  auto h = co_await codec_->read_head(resp, ctx_.deadline);
  r.response_started = codec_->response_started();
  if (h) {
    r.cause = TryCause::kOk;
    r.detail.clear();
    co_return r;
  }
  hr_->counters->failures.inc();
  if (h.error() == std::errc::timed_out) {
    r.cause = TryCause::kTimeout;
  } else if (h.error() == std::errc::bad_message) {
    r.cause = TryCause::kBadResponse;
    r.detail = "malformed response";
  } else {
    r.cause = r.response_started ? TryCause::kResetDuringResponse : TryCause::kResetBeforeResponse;
    r.detail = send_failed ? "connection reset while sending" : "connection closed before response";
  }
  co_return r;
}

rt::Task<TryResult> Attempt::connect_or_reuse(TryPlan plan) {
  upstream::WorkerCluster& cluster = ctx_.cluster;
  host_ = cluster.pick(ctx_.lb, plan.exclude);
  if (host_ < 0) co_return failed(TryCause::kNoHost);
  hr_ = &cluster.runtime(size_t(host_));
  const upstream::Host& h = cluster.host(size_t(host_));
  pool_ = hr_->pool;

  const int64_t t0 = rt::mono_ns();
  conn_ = plan.fresh_connection ? nullptr : pool_->checkout();
  ctx_.spans.pool_ns += rt::mono_ns() - t0;
  if (!conn_) {
    if (!pool_->reserve()) co_return failed(TryCause::kPoolExhausted);
    const int64_t c0 = rt::mono_ns();
    const int64_t left = ctx_.deadline - ctx_.loop.now_ms();
    const int64_t timeout = std::max<int64_t>(
        1, std::min<int64_t>(cluster.snapshot().settings.connect_timeout.count(), left));
    auto s = co_await ctx_.connector.connect(ctx_.loop, h, timeout);
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
  }
  co_return TryResult{};
}

rt::Task<TryResult> Attempt::send_request() {
  active_.hold(hr_->counters->active_requests);
  hr_->counters->requests.inc();
  codec_ = &ctx_.connector.start(*conn_, ctx_.req, ctx_.buffers, slot_);

  RequestBody& body = ctx_.body;
  body.rewind();
  // Keep the body while on a reused connection: if the upstream closed it as we wrote, the
  // request is re-sent on a fresh one (the keep-alive race).
  body.retain(conn_->reused);
  TryResult r;
  auto piece = co_await body.next(body_deadline());
  if (!piece) co_return failed(client_cause(piece.error()));
  const int64_t io_idle = ctx_.io_idle_ms;
  // The head goes out with the first body piece (often all of it) in one write.
  auto w = co_await codec_->send_head(ctx_.req, ctx_.transform, ctx_.framing, piece->data,
                                      piece->end, ctx_.loop.now_ms() + io_idle);
  bool end = piece->end;
  while (w && !end) {
    piece = co_await body.next(body_deadline());
    if (!piece) co_return failed(client_cause(piece.error()));
    end = piece->end;
    if (piece->data.empty() && !end) continue;
    w = co_await codec_->send_body(piece->data, end, ctx_.loop.now_ms() + io_idle);
  }
  ctx_.spans.sent_ns = rt::mono_ns();
  if (!w) {
    r.cause = TryCause::kResetBeforeResponse;
    co_return r;
  }
  r.request_complete = true;
  co_return r;
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

rt::Task<TryResult> run_tries(TryContext& ctx, Attempt& attempt, http::ResponseHead& resp) {
  RetryPolicy policy;
  TryPlan plan;
  int last_host = -1;
  for (;;) {
    TryResult r = co_await attempt.run(plan, resp);
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
    plan = d.next;
  }
}

}  // namespace cw::proxy
