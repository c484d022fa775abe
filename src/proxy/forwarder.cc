// The forwarder: a loop of tries (attempt.h) under the route's deadline, the retry policy
// deciding between them, then the response relayed back (relay.cc).
// Thread contract: see forwarder.h.
#include "proxy/forwarder.h"

#include "base/random.h"
#include "proxy/attempt.h"
#include "proxy/fault.h"
#include "proxy/relay.h"
#include "proxy/request_headers.h"
#include "proxy/retry_policy.h"
#include "proxy/worker.h"
#include "resilience/deadline.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

// The balancer's hash key for ring_hash and maglev: source IP, a header or a cookie.
upstream::LbContext hash_context(const upstream::ClusterSnapshot& cs, const Exchange& ex) {
  upstream::LbContext ctx;
  if (cs.policy != upstream::LbPolicy::kRingHash && cs.policy != upstream::LbPolicy::kMaglev)
    return ctx;
  switch (cs.hash_on) {
    case upstream::HashOn::kSourceIp:
      ctx.has_hash = true;
      ctx.hash = upstream::hash_key(ex.peer_ip);
      break;
    case upstream::HashOn::kHeader:
      if (const std::string* v = ex.req.headers.get(cs.hash_name)) {
        ctx.has_hash = true;
        ctx.hash = upstream::hash_key(*v);
      }
      break;
    case upstream::HashOn::kCookie:
      for (const auto& h : ex.req.headers) {
        if (h.token != http::HeaderToken::kCookie) continue;
        std::string_view v = h.value;
        while (!v.empty()) {
          auto semi = v.find(';');
          auto pair = v.substr(0, semi);
          while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
          auto eq = pair.find('=');
          if (eq != std::string_view::npos && pair.substr(0, eq) == cs.hash_name) {
            ctx.has_hash = true;
            ctx.hash = upstream::hash_key(pair.substr(eq + 1));
            return ctx;
          }
          if (semi == std::string_view::npos) break;
          v.remove_prefix(semi + 1);
        }
      }
      break;
  }
  return ctx;
}

ProxyError error_for(TryCause c) {
  switch (c) {
    case TryCause::kNoHost:
      return ProxyError::kNoHealthyUpstream;
    case TryCause::kPoolExhausted:
      return ProxyError::kPoolExhausted;
    case TryCause::kOverflow:
      return ProxyError::kOverflow;
    case TryCause::kConnectRefused:
      return ProxyError::kUpstreamConnectRefused;
    case TryCause::kConnectTimeout:
      return ProxyError::kUpstreamConnectTimeout;
    case TryCause::kConnectFailed:
      return ProxyError::kUpstreamConnectFailed;
    case TryCause::kTimeout:
      return ProxyError::kUpstreamTimeout;
    case TryCause::kBadResponse:
      return ProxyError::kUpstreamBadResponse;
    case TryCause::kClientBodyTimeout:
      return ProxyError::kClientBodyTimeout;
    case TryCause::kClientBadBody:
      return ProxyError::kBadRequest;
    case TryCause::kClientGone:
      return ProxyError::kNone;
    case TryCause::kResetBeforeResponse:
    case TryCause::kResetDuringResponse:
    case TryCause::kOk:
      break;
  }
  return ProxyError::kUpstreamReset;
}

// The request's deadline: the route timeout from the request head, shortened by a trusted
// client's x-causeway-deadline (remaining ms) or grpc-timeout; an untrusted client's are ignored
// (and replaced upstream by this hop's own).
int64_t request_deadline(const Exchange& ex, const ForwardTransform& t, int64_t route,
                         int64_t now) {
  if (!t.client_deadline() && !t.client_grpc_timeout()) return route;
  if (!ex.listener.trusted_proxy(ex.peer)) return route;
  int64_t d = route;
  if (t.client_deadline())
    d = resilience::shorten_deadline(d, now, resilience::parse_deadline_ms(*t.client_deadline()));
  if (t.client_grpc_timeout()) {
    d = resilience::shorten_deadline(d, now,
                                     resilience::parse_grpc_timeout_ms(*t.client_grpc_timeout()));
  }
  return d;
}

// An overflow's members: `"limit":"max_pending","value":64,"per_worker":32` (the configured
// cluster-wide value and the share this worker enforces).
std::string overflow_fields(const TryResult& r, const upstream::WorkerCluster& cluster) {
  if (r.cause != TryCause::kOverflow) return {};
  std::string out = "\"limit\":";
  append_json_string(out, resilience::limit_name(r.limit));
  out += ",\"value\":";
  out += std::to_string(cluster.limits().configured(r.limit));
  out += ",\"per_worker\":";
  out += std::to_string(cluster.limits().share(r.limit));
  return out;
}

// Ends the request after the last failed try, with the error naming the hop that failed.
rt::Task<void> answer_failure(Exchange& ex, const TryResult& r,
                              const upstream::WorkerCluster& cluster) {
  if (is_client_failure(r.cause)) {
    // A half-sent request must not be taken for a whole one: the upstream connection was
    // closed with it, and the client connection's framing is lost.
    ex.close_client = true;
    if (r.cause == TryCause::kClientGone) co_return;  // nobody to answer
  }
  std::string_view detail = r.detail;
  if (r.cause == TryCause::kClientBodyTimeout) detail = "request body not received in time";
  if (r.cause == TryCause::kClientBadBody) detail = "malformed body";
  co_await send_error(ex, error_for(r.cause), cluster.snapshot().name, detail,
                      overflow_fields(r, cluster));
}

}  // namespace

rt::Task<void> send_error(Exchange& ex, ProxyError e, std::string_view cluster,
                          std::string_view detail, std::string_view fields, int status) {
  ex.error = e;
  ex.worker.stats().errors[size_t(e)].inc();
  if (ex.status != 0) {  // the response head is already out: all we can do is close
    ex.close_client = true;
    co_return;
  }
  const ErrorInfo& info = error_info(e);
  http::ResponseHead head;
  head.status = status ? status : info.status;
  std::string body = error_body(e, cluster, ex.upstream, ex.request_id, detail, fields);
  head.headers.add("Content-Type", "application/json");
  head.headers.add("x-causeway-error", info.code);
  head.headers.add("x-request-id", ex.request_id);
  if (ex.trace) {
    ex.spans.complete_ns = rt::mono_ns();
    head.headers.add("Server-Timing", ex.spans.server_timing());
    if (!ex.upstream.empty()) head.headers.add("x-causeway-upstream", ex.upstream);
  }
  head.body = {http::BodyKind::kContentLength, body.size()};
  // An unread request body would be taken for the next request: close instead.
  if (!ex.down.body_done()) ex.close_client = true;
  head.keep_alive = !ex.close_client;
  ex.status = head.status;
  auto& loop = ex.worker.loop();
  auto r = co_await ex.down.send_head(head, body, true, loop.now_ms() + 5000);
  if (!r) ex.close_client = true;
}

rt::Task<void> forward(Exchange& ex) {
  Worker& w = ex.worker;
  rt::EventLoop& loop = w.loop();
  const int64_t start = loop.now_ms();
  const int64_t deadline = start + ex.route->cfg.timeout.count();  // covers all tries
  if (may_inject_faults(ex) && !co_await inject_faults(ex, deadline)) co_return;
  upstream::WorkerCluster& cluster = *ex.gen.clusters[size_t(ex.route->cluster)];
  const upstream::ClusterSnapshot& cs = cluster.snapshot();
  cluster.stats().requests.inc();

  char ids[48];  // trace id (32 hex) + this hop's span id (16 hex)
  random_hex(w.rng(), ids, sizeof ids);
  const ForwardedFor fwd{ex.peer_ip, ex.listener.trusted_proxy(ex.peer), "http", cs.name};
  ForwardTransform transform(ex.req, fwd, ex.request_id, std::string_view(ids, 32),
                             std::string_view(ids + 32, 16));
  const upstream::LbContext lb = hash_context(cs, ex);
  RequestBody body(ex.down, ex.req.body.kind != http::BodyKind::kNone);
  const config::Listener& lc = ex.listener.cfg;
  TryContext ctx{
      loop,
      w.buffers(),
      tcp_connector(),
      cluster,
      lb,
      ex.req,
      transform,
      ex.req.body,
      body,
      ex.spans,
      request_deadline(ex, transform, deadline, start),
      lc.body_read_timeout.count(),
      ex.route->cfg.idle_timeout ? ex.route->cfg.idle_timeout->count() : lc.idle_timeout.count()};
  RetryPolicy policy(ex.route->retry, idempotent_method(ex.req.method));
  ctx.retry = &policy;
  ctx.rng = &w.rng();
  transform.state_deadline(&ctx.deadline_left_ms);
  cluster.retry_budget().on_request(loop.now_ms());

  Attempt attempt(ctx);
  http::ResponseHead resp;
  TryResult r = co_await attempt.run({}, resp);  // most requests: one try, no retry loop
  if (!r.ok() || policy.wants_status(resp.status))
    r = co_await retry_tries(ctx, attempt, resp, std::move(r));
  if (r.host >= 0) ex.upstream = cluster.host(size_t(r.host)).key;
  ex.bytes_in = body.bytes_read();
  if (!r.ok()) {
    co_await answer_failure(ex, r, cluster);
    co_return;
  }
  co_await relay_response(ex, attempt, resp, body.complete());
}

}  // namespace cw::proxy
