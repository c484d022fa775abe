// Response relay. Thread contract: see relay.h.
#include "proxy/relay.h"

#include <algorithm>

#include "proxy/fault.h"
#include "proxy/request_headers.h"
#include "proxy/worker.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

// A truncated response must not be mistaken for a complete one: count it, close the client.
void truncated(Exchange& ex, const std::error_code& ec) {
  ex.error = ec == std::errc::timed_out     ? ProxyError::kUpstreamTimeout
             : ec == std::errc::bad_message ? ProxyError::kUpstreamBadResponse
                                            : ProxyError::kUpstreamReset;
  ex.worker.stats().errors[size_t(ex.error)].inc();
  ex.close_client = true;
}

}  // namespace

rt::Task<void> relay_response(Exchange& ex, Attempt& attempt, http::ResponseHead& resp,
                              bool request_complete) {
  rt::EventLoop& loop = ex.worker.loop();
  upstream::HostRuntime& hr = attempt.host_runtime();
  upstream::ClusterStats& cstats = ex.gen.clusters[size_t(ex.route->cluster)]->stats();
  const int64_t idle_ms = ex.route->cfg.idle_timeout ? ex.route->cfg.idle_timeout->count()
                                                     : ex.listener.cfg.idle_timeout.count();

  ex.spans.first_byte_ns = rt::mono_ns();
  upstream::record_latency(hr.lb, ex.spans.first_byte_ns - ex.spans.sent_ns,
                           ex.spans.first_byte_ns);
  hr.counters->ewma_us.set(int64_t(hr.lb.ewma_rtt_ns / 1000));
  hr.counters->latency.observe_us(uint64_t(ex.spans.first_byte_ns - ex.spans.sent_ns) / 1000);
  cstats.responses_by_class[std::min(resp.status / 100, 5)].inc();

  const bool upgraded = resp.status == 101 && ex.req.upgrade;
  std::string upgrade_value;
  if (upgraded) upgrade_value = resp.headers.get_or("upgrade", "");
  strip_response_hop_headers(resp.headers);
  if (upgraded) {
    resp.headers.add("Connection", "upgrade");
    resp.headers.add("Upgrade", upgrade_value);
  }
  if (ex.trace) {
    ex.spans.complete_ns = rt::mono_ns();
    resp.headers.add("Server-Timing", ex.spans.server_timing());
    resp.headers.add("x-causeway-upstream", ex.upstream);
    resp.headers.add("x-request-id", ex.request_id);
  }
  // A response that arrives before the request body was fully sent ends this connection.
  if (!request_complete || !ex.down.body_done()) ex.close_client = true;
  resp.keep_alive = !ex.close_client;  // from here on: may the client connection stay open

  UpstreamCodec& codec = attempt.codec();
  auto first = codec.buffered_body();
  if (!first) {
    attempt.finish(false);
    co_await send_error(ex, ProxyError::kUpstreamBadResponse, ex.route->cfg.cluster,
                        "malformed body");
    co_return;
  }
  ex.status = resp.status;
  ex.bytes_out += first->data.size();
  bool end = first->end || resp.body.kind == http::BodyKind::kNone;
  // A throttled body (fault.h) follows the head, paced; otherwise it goes with it.
  BodyPacer pacer(ex.spans.fault.throttle_bps, loop.now_ms());
  const std::string_view with_head = pacer.active() ? std::string_view() : first->data;
  const bool all = with_head.size() == first->data.size();
  auto sent = co_await ex.down.send_head(resp, with_head, end && all, loop.now_ms() + idle_ms);
  if (sent && !all) sent = co_await send_paced(ex.down, loop, pacer, first->data, end, idle_ms);
  if (!sent) {
    ex.close_client = true;
    attempt.finish(false);
    co_return;
  }
  if (upgraded) {
    ConnBuffer* pending = nullptr;
    if (rt::Stream* up = codec.tunnel_stream(pending)) co_await ex.down.tunnel(*up, *pending);
    attempt.finish(false);
    ex.close_client = true;
    co_return;
  }
  while (!end) {
    auto piece = co_await codec.read_body(loop.now_ms() + idle_ms);
    if (!piece) {
      truncated(ex, piece.error());
      attempt.finish(false);
      co_return;
    }
    end = piece->end;
    if (piece->data.empty() && !end) continue;
    ex.bytes_out += piece->data.size();
    Result<void> r;
    if (pacer.active()) {
      r = co_await send_paced(ex.down, loop, pacer, piece->data, end, idle_ms);
    } else {
      r = co_await ex.down.send_body(piece->data, end, loop.now_ms() + idle_ms);
    }
    if (!r) {
      ex.close_client = true;
      attempt.finish(false);
      co_return;
    }
  }
  attempt.finish(true);
}

}  // namespace cw::proxy
