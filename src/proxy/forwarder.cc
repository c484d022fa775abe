// The forwarder: tries under a deadline, then streams the response back.
// Thread contract: see forwarder.h.
#include "proxy/forwarder.h"

#include <algorithm>
#include <cerrno>

#include "base/buffer.h"
#include "base/random.h"
#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "http/h1/writer.h"
#include "proxy/request_headers.h"
#include "proxy/worker.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

constexpr size_t kMaxReplayBytes = 64 * 1024;  // body kept to re-send after a stale connection
constexpr size_t kMaxResponseHead = 64 * 1024;

ProxyError classify_connect_error(const std::error_code& ec) {
  if (ec == std::errc::connection_refused) return ProxyError::kUpstreamConnectRefused;
  if (ec == std::errc::timed_out) return ProxyError::kUpstreamConnectTimeout;
  return ProxyError::kUpstreamConnectFailed;
}

upstream::LbContext hash_context(const upstream::ClusterSnapshot& cs, const Exchange& ex) {
  upstream::LbContext ctx;
  if (cs.policy != upstream::LbPolicy::kRingHash && cs.policy != upstream::LbPolicy::kMaglev)
    return ctx;
  switch (cs.hash_on) {
    case upstream::HashOn::kSourceIp: {
      ctx.has_hash = true;
      ctx.hash = upstream::hash_key(ex.peer_ip);
      break;
    }
    case upstream::HashOn::kHeader:
      if (const std::string* v = ex.req.headers.get(cs.hash_name)) {
        ctx.has_hash = true;
        ctx.hash = upstream::hash_key(*v);
      }
      break;
    case upstream::HashOn::kCookie:
      for (const auto& h : ex.req.headers) {
        if (!http::iequals(h.name, "cookie")) continue;
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

// The upstream head (first piece only) followed by one framed piece of request body.
struct ChunkFrame {
  char size_line[24];
  iovec iov[4];
  int n = 0;
  void build(std::string_view head, std::string_view data, bool end, bool chunked) {
    n = 0;
    if (!head.empty()) iov[n++] = {const_cast<char*>(head.data()), head.size()};
    n += http::h1::frame_body_piece(data, end, chunked, size_line, iov + n);
  }
};

}  // namespace

rt::Task<void> send_error(Exchange& ex, ProxyError e, std::string_view cluster,
                          std::string_view detail) {
  ex.error = e;
  ex.worker.stats().errors[size_t(e)].inc();
  if (ex.status != 0) {  // the response head is already out: all we can do is close
    ex.close_client = true;
    co_return;
  }
  const ErrorInfo& info = error_info(e);
  http::ResponseHead head;
  head.status = info.status;
  head.reason = std::string(http::reason_phrase(info.status));
  std::string body = error_body(e, cluster, ex.upstream, ex.request_id, detail);
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
  ex.status = info.status;
  auto& loop = ex.worker.loop();
  auto r = co_await ex.down.send_head(head, body, true, loop.now_ms() + 5000);
  if (!r) ex.close_client = true;
}

rt::Task<void> forward(Exchange& ex) {
  Worker& w = ex.worker;
  rt::EventLoop& loop = w.loop();
  upstream::WorkerCluster& cluster = *ex.gen.clusters[size_t(ex.route->cluster)];
  const upstream::ClusterSnapshot& cs = cluster.snapshot();
  upstream::ClusterStats& cstats = cluster.stats();
  const int64_t deadline = loop.now_ms() + ex.route->cfg.timeout.count();
  const int64_t idle_ms = ex.route->cfg.idle_timeout ? ex.route->cfg.idle_timeout->count()
                                                     : ex.listener.cfg.idle_timeout.count();
  cstats.requests.inc();

  // The head we send upstream, built once for every try.
  std::string head;
  head.reserve(512 + ex.req.headers.size() * 48);
  {
    char ids[48];  // trace id (32 hex) + span id (16 hex)
    random_hex(w.rng(), ids, sizeof ids);
    ForwardedFor fwd{ex.peer_ip, ex.listener.trusted_proxy(ex.peer), "http", cs.name};
    build_upstream_request(ex.req, fwd, ex.request_id, std::string_view(ids, 32),
                           std::string_view(ids + 32, 16), ex.req.body, head);
  }
  const bool chunked_up = ex.req.body.kind == http::BodyKind::kChunked;
  const bool has_body = ex.req.body.kind != http::BodyKind::kNone;

  const upstream::LbContext lb_ctx = hash_context(cs, ex);
  std::string replay;          // body bytes sent on a reused connection, for one re-send
  bool replay_ok = true;
  bool body_complete = !has_body;
  std::shared_ptr<upstream::ConnPool> pool;
  std::unique_ptr<upstream::UpstreamConn> conn;
  ConnBuffer ubuf(w.buffers());
  http::ResponseHead resp;
  http::h1::ParseLimits limits{kMaxResponseHead, 200};
  int host = -1;
  int exclude = -1;
  int connect_failures = 0;
  bool resent = false;
  bool force_fresh = false;
  upstream::HostRuntime* hr = nullptr;

  for (;;) {
    // ---- pick a host and get a connection ----
    host = cluster.pick(lb_ctx, exclude);
    if (host < 0) {
      co_await send_error(ex, ProxyError::kNoHealthyUpstream, cs.name, "");
      co_return;
    }
    hr = &cluster.runtime(size_t(host));
    const upstream::Host& h = cluster.host(size_t(host));
    ex.upstream = h.key;
    pool = hr->pool;
    int64_t t0 = rt::mono_ns();
    conn = force_fresh ? nullptr : pool->checkout();
    ex.spans.pool_ns += rt::mono_ns() - t0;
    if (!conn) {
      if (!pool->reserve()) {
        co_await send_error(ex, ProxyError::kPoolExhausted, cs.name, "");
        co_return;
      }
      int64_t c0 = rt::mono_ns();
      int64_t left = deadline - loop.now_ms();
      int64_t ctimeout = std::max<int64_t>(1, std::min<int64_t>(cs.settings.connect_timeout.count(), left));
      auto s = co_await rt::connect(loop, h.address, ctimeout);
      ex.spans.connect_ns += rt::mono_ns() - c0;
      if (!s) {
        pool->unreserve();
        cluster.on_connect_failure(size_t(host));
        cstats.connect_failures.inc();
        hr->counters->failures.inc();
        // Nothing reached the upstream: another host is always safe to try.
        if (++connect_failures < 2 && cluster.size() > 1 && loop.now_ms() < deadline) {
          exclude = host;
          if (!ex.spans.retries.empty()) ex.spans.retries += ',';
          ex.spans.retries += "connect-failure";
          continue;
        }
        co_await send_error(ex, classify_connect_error(s.error()), cs.name, s.error().message());
        co_return;
      }
      cluster.on_connect_success(size_t(host));
      cstats.connects.inc();
      conn = std::make_unique<upstream::UpstreamConn>();
      conn->stream = std::move(*s);
    }

    // ---- send the request ----
    hr->counters->active_requests.inc();
    hr->counters->requests.inc();
    bool keep_replay = conn->reused && replay_ok;
    bool send_failed = false;
    ChunkFrame frame;
    if (resent) {
      // Re-send: head plus the body we kept, in one go.
      frame.build(head, replay, body_complete, chunked_up);
      auto wr = co_await conn->stream.writev(frame.iov, frame.n, loop.now_ms() + idle_ms);
      send_failed = !wr;
    } else if (!has_body) {
      auto wr = co_await conn->stream.write(head, loop.now_ms() + idle_ms);
      send_failed = !wr;
    } else {
      // Stream the body: the head goes with the first piece.
      bool head_out = false;
      while (!body_complete) {
        auto piece = co_await ex.down.read_body(loop.now_ms() + idle_ms);
        if (!piece) {
          // The client stalled or broke mid-body: nothing sensible reaches the upstream.
          hr->counters->active_requests.dec();
          pool->discard(std::move(conn));
          ex.close_client = true;
          if (piece.error() == std::errc::timed_out) {
            co_await send_error(ex, ProxyError::kRequestTimeout, cs.name, "request body");
          } else if (piece.error() == std::errc::bad_message) {
            co_await send_error(ex, ProxyError::kBadRequest, cs.name, "malformed body");
          }
          co_return;
        }
        body_complete = piece->end;
        ex.bytes_in += piece->data.size();
        if (keep_replay) {
          if (replay.size() + piece->data.size() <= kMaxReplayBytes) {
            replay.append(piece->data);
          } else {
            replay_ok = keep_replay = false;
            replay.clear();
          }
        }
        if (piece->data.empty() && !body_complete) continue;
        frame.build(head_out ? std::string_view() : std::string_view(head), piece->data,
                    body_complete, chunked_up);
        head_out = true;
        auto wr = co_await conn->stream.writev(frame.iov, frame.n, loop.now_ms() + idle_ms);
        if (!wr) {
          send_failed = true;
          break;
        }
      }
      if (!head_out && !send_failed) {
        auto wr = co_await conn->stream.write(head, loop.now_ms() + idle_ms);
        send_failed = !wr;
      }
      if (!conn->reused) replay_ok = false;  // body consumed on a fresh connection
    }
    ex.spans.sent_ns = rt::mono_ns();

    // ---- await the response head ----
    bool got_bytes = false;
    bool head_done = false;
    std::error_code read_err;
    size_t scan = 0;
    for (;;) {
      if (!ubuf.empty()) {
        auto pr = http::h1::parse_response_head(ubuf.view(), limits, ex.req.method, resp, scan);
        if (pr.status == http::h1::ParseStatus::kDone) {
          ubuf.consume(pr.consumed);
          scan = 0;
          // Interim responses (100 Continue and friends) are ours to absorb, except 101.
          if (resp.status >= 100 && resp.status < 200 && resp.status != 101) continue;
          head_done = true;
          break;
        }
        if (pr.status == http::h1::ParseStatus::kError) {
          read_err = std::make_error_code(std::errc::bad_message);
          break;
        }
        scan = ubuf.size();
      }
      size_t space = ubuf.prepare(kMaxResponseHead);
      if (space == 0) {
        read_err = std::make_error_code(std::errc::bad_message);
        break;
      }
      auto n = co_await conn->stream.read(ubuf.write_ptr(), space, deadline);
      if (!n) {
        read_err = n.error();
        break;
      }
      if (*n == 0) {
        read_err = std::make_error_code(std::errc::connection_reset);
        break;
      }
      got_bytes = true;
      ubuf.commit(*n);
    }
    if (head_done) break;

    hr->counters->active_requests.dec();
    hr->counters->failures.inc();
    bool was_reused = conn->reused;
    pool->discard(std::move(conn));
    ubuf.consume(ubuf.size());
    // The keep-alive race: the upstream closed a reused connection as we sent on it. It never
    // saw the request, so one re-send on a fresh connection is safe for any method.
    if (!got_bytes && was_reused && !resent && replay_ok && read_err != std::errc::timed_out &&
        read_err != std::errc::bad_message) {
      resent = true;
      force_fresh = true;
      exclude = -1;
      cstats.reused_conn_resends.inc();
      if (!ex.spans.retries.empty()) ex.spans.retries += ',';
      ex.spans.retries += "reused-connection-closed";
      continue;
    }
    if (read_err == std::errc::timed_out) {
      co_await send_error(ex, ProxyError::kUpstreamTimeout, cs.name, "");
    } else if (read_err == std::errc::bad_message) {
      co_await send_error(ex, ProxyError::kUpstreamBadResponse, cs.name, "malformed response");
    } else {
      co_await send_error(ex, ProxyError::kUpstreamReset, cs.name,
                          send_failed ? "connection reset while sending" : "connection closed before response");
    }
    co_return;
  }

  // ---- stream the response back ----
  ex.spans.first_byte_ns = rt::mono_ns();
  upstream::record_latency(hr->lb, ex.spans.first_byte_ns - ex.spans.sent_ns, ex.spans.first_byte_ns);
  hr->counters->latency.observe_us(uint64_t(ex.spans.first_byte_ns - ex.spans.sent_ns) / 1000);
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
  if (!body_complete || !ex.down.body_done()) ex.close_client = true;
  const bool upstream_keep_alive = resp.keep_alive;
  resp.keep_alive = !ex.close_client;  // from here on: may the client connection stay open

  http::h1::BodyDecoder dec(resp.body);
  std::string gather;  // several chunks already buffered go out in one write
  bool failed = false;
  bool upstream_eof = false;
  // Decodes everything ubuf holds into one view (copying only when several chunks are
  // buffered); false on a framing error. Views stay valid until the next read into ubuf.
  auto next_data = [&](std::string_view& out, bool& end) {
    gather.clear();
    out = {};
    bool multiple = false;
    for (;;) {
      auto st = dec.decode(ubuf.view());
      if (st.error) return false;
      if (!st.data.empty()) {
        if (!multiple && out.empty()) {
          out = st.data;
        } else {
          if (!multiple) gather.assign(out);
          multiple = true;
          gather.append(st.data);
        }
      }
      ubuf.consume(st.consumed);
      if (st.done) {
        end = true;
        break;
      }
      if (st.consumed == 0 && st.data.empty()) break;
    }
    if (multiple) out = gather;
    return true;
  };
  std::string_view data;
  bool end = resp.body.kind == http::BodyKind::kNone;
  if (!end && !next_data(data, end)) {
    co_await send_error(ex, ProxyError::kUpstreamBadResponse, cs.name, "malformed body");
    failed = true;
  }
  if (!failed) {
    ex.status = resp.status;
    ex.bytes_out += data.size();
    auto r = co_await ex.down.send_head(resp, data, end, loop.now_ms() + idle_ms);
    if (!r) {
      ex.close_client = true;
      failed = true;
    }
  }
  if (!failed && upgraded) {
    co_await ex.down.tunnel(conn->stream, ubuf);
    hr->counters->active_requests.dec();
    pool->discard(std::move(conn));
    ex.close_client = true;
    co_return;
  }
  while (!failed && !end) {
    size_t space = ubuf.prepare();
    auto n = co_await conn->stream.read(ubuf.write_ptr(), space, loop.now_ms() + idle_ms);
    if (!n || *n == 0) {
      if (n && resp.body.kind == http::BodyKind::kUntilClose) {
        upstream_eof = true;
        end = true;
        auto r = co_await ex.down.send_body({}, true, loop.now_ms() + idle_ms);
        if (!r) ex.close_client = true;
        break;
      }
      // Truncated response: the client must not mistake it for a complete one.
      ex.error = n ? ProxyError::kUpstreamReset : (n.error() == std::errc::timed_out
                                                       ? ProxyError::kUpstreamTimeout
                                                       : ProxyError::kUpstreamReset);
      w.stats().errors[size_t(ex.error)].inc();
      ex.close_client = true;
      failed = true;
      break;
    }
    ubuf.commit(*n);
    if (!next_data(data, end)) {
      ex.error = ProxyError::kUpstreamBadResponse;
      ex.close_client = true;
      failed = true;
      break;
    }
    if (data.empty() && !end) continue;
    ex.bytes_out += data.size();
    auto r = co_await ex.down.send_body(data, end, loop.now_ms() + idle_ms);
    if (!r) {
      ex.close_client = true;
      failed = true;
    }
  }

  hr->counters->active_requests.dec();
  if (!failed && !upstream_eof && end && upstream_keep_alive && body_complete && ubuf.empty()) {
    ++conn->requests;
    pool->release(std::move(conn));
  } else {
    pool->discard(std::move(conn));
  }
}

}  // namespace cw::proxy
