// The HTTP/1.1 session loop: wait (holding no buffer), read and parse a head, route, answer
// (forward, direct response, redirect, or the proxy's own error), account, repeat.
// Thread contract: see http_session.h.
#include "proxy/http_session.h"

#include <cstdio>
#include <cstring>

#include "base/random.h"
#include "http/h1/parser.h"
#include "proxy/forwarder.h"
#include "proxy/h1_downstream.h"
#include "proxy/request_headers.h"
#include "proxy/worker.h"
#include "runtime/clock.h"

namespace cw::proxy {
namespace {

// A UUID-shaped random request id.
std::string new_request_id(Worker& w) {
  char hex[32];
  random_hex(w.rng(), hex, sizeof hex);
  std::string id(36, '-');
  std::memcpy(&id[0], hex, 8);
  std::memcpy(&id[9], hex + 8, 4);
  std::memcpy(&id[14], hex + 12, 4);
  std::memcpy(&id[19], hex + 16, 4);
  std::memcpy(&id[24], hex + 20, 12);
  return id;
}

rt::Task<void> send_direct(Exchange& ex, const config::DirectResponse& d) {
  http::ResponseHead head;
  head.status = d.status;
  head.headers.add("Content-Type", d.content_type);
  head.body = {http::BodyKind::kContentLength, d.body.size()};
  if (!ex.down.body_done()) ex.close_client = true;
  head.keep_alive = !ex.close_client;
  ex.status = d.status;
  ex.bytes_out = d.body.size();
  auto r = co_await ex.down.send_head(head, d.body, true, ex.worker.loop().now_ms() + 5000);
  if (!r) ex.close_client = true;
}

rt::Task<void> send_redirect(Exchange& ex, const config::Redirect& rd) {
  http::ResponseHead head;
  head.status = rd.status;
  head.headers.add("Location", rd.location);
  head.body = {http::BodyKind::kContentLength, 0};
  if (!ex.down.body_done()) ex.close_client = true;
  head.keep_alive = !ex.close_client;
  ex.status = rd.status;
  auto r = co_await ex.down.send_head(head, {}, true, ex.worker.loop().now_ms() + 5000);
  if (!r) ex.close_client = true;
}

void write_access_log(Worker& w, const Exchange& ex, int64_t end_ns) {
  AccessLog& log = w.access_log();
  if (!log.enabled()) return;
  std::string& out = log.buffer();
  const std::string_view route = ex.route ? std::string_view(ex.route->name) : "";
  const std::string_view cluster =
      ex.route && ex.route->cluster >= 0 ? std::string_view(ex.route->cfg.cluster) : "";
  char num[64];
  if (log.json()) {
    std::snprintf(num, sizeof num, "{\"ts_ms\":%lld,\"worker\":%d,", (long long)rt::wall_ms(),
                  w.id());
    out += num;
    out += "\"client\":";
    append_json_string(out, ex.peer_ip);
    out += ",\"listener\":";
    append_json_string(out, ex.listener.cfg.name);
    out += ",\"method\":";
    append_json_string(out, ex.req.method);
    out += ",\"path\":";
    append_json_string(out, ex.req.target);
    out += ",\"host\":";
    append_json_string(out, ex.req.host);
    out += ",\"route\":";
    append_json_string(out, route);
    out += ",\"cluster\":";
    append_json_string(out, cluster);
    out += ",\"upstream\":";
    append_json_string(out, ex.upstream);
    std::snprintf(num, sizeof num, ",\"status\":%d,\"error\":", ex.status);
    out += num;
    append_json_string(out, error_info(ex.error).code);
    out += ",\"hop\":";  // who failed: client, proxy or upstream (empty when nothing did)
    append_json_string(out, error_info(ex.error).hop);
    std::snprintf(num, sizeof num, ",\"bytes_in\":%llu,\"bytes_out\":%llu,",
                  (unsigned long long)ex.bytes_in, (unsigned long long)ex.bytes_out);
    out += num;
    out += "\"request_id\":";
    append_json_string(out, ex.request_id);
    std::snprintf(num, sizeof num,
                  ",\"duration_ms\":%.3f,\"timing\":", double(end_ns - ex.spans.start_ns) / 1e6);
    out += num;
    append_json_string(out, ex.spans.server_timing());
    if (ex.spans.fault.any()) {  // injected faults, in the x-causeway-fault grammar
      out += ",\"fault\":";
      append_json_string(out, ex.spans.fault.describe());
    }
    out += "}\n";
  } else {
    std::snprintf(num, sizeof num, "%d ", ex.status);
    out += std::string(ex.peer_ip) + " \"" + ex.req.method + " " + ex.req.target + "\" " + num;
    out += std::string(route) + " " + ex.upstream + " " + ex.request_id;
    std::snprintf(num, sizeof num, " %.3fms\n", double(end_ns - ex.spans.start_ns) / 1e6);
    out += num;
  }
  log.commit();
}

// What a connection keeps between requests: small, because 10,000 idle keep-alive
// connections each hold one of these (plus the coroutine frame around it) and nothing else.
struct Connection {
  Worker& w;
  rt::Stream& client;
  ConnBuffer& buf;
  const std::string& listener_key;
  std::string peer_ip;
};

enum class Next { kContinue, kClose };

// One request/response exchange. Its frame (heads, spans, downstream) exists only while a
// request is in flight.
rt::Task<Next> serve_one(Connection& c, std::shared_ptr<WorkerGeneration> gen,
                         const ListenerSnapshot* ls) {
  Worker& w = c.w;
  rt::EventLoop& loop = w.loop();
  const config::Listener& lc = ls->cfg;
  RequestHeadLease lease(w);
  http::RequestHead& req = lease.head();

  // ---- read and parse the head (slowloris guard: the whole head within the timeout) ----
  Spans spans;
  spans.start_ns = rt::mono_ns();
  const int64_t head_deadline = loop.now_ms() + lc.header_read_timeout.count();
  const http::h1::ParseLimits limits{lc.max_header_bytes, lc.max_headers};
  http::h1::ParseResult pr;
  size_t scan = 0;
  bool timed_out = false;
  for (;;) {
    if (!c.buf.empty()) {
      pr = http::h1::parse_request_head(c.buf.view(), limits, req, scan);
      if (pr.status != http::h1::ParseStatus::kNeedMore) break;
      scan = c.buf.size();
    }
    size_t space = c.buf.prepare(lc.max_header_bytes + BufferPool::kBlock);
    if (space == 0) {
      pr.status = http::h1::ParseStatus::kError;
      pr.error_status = 431;
      break;
    }
    auto n = co_await c.client.read(c.buf.write_ptr(), space, head_deadline);
    if (!n) {
      timed_out = n.error() == std::errc::timed_out;
      if (!timed_out) co_return Next::kClose;  // the client went away; nothing to answer
      break;
    }
    if (*n == 0) co_return Next::kClose;
    c.buf.commit(*n);
  }

  w.stats().requests.inc();
  if (timed_out || pr.status == http::h1::ParseStatus::kError) {
    // Refuse and close: a malformed head leaves the stream's framing unknown.
    req = http::RequestHead{};
    req.keep_alive = false;
  }
  H1Downstream down(w, c.client, c.buf, req);
  Exchange ex{w, *gen, *ls, nullptr, down, req, c.client.peer(), c.peer_ip};
  ex.spans = spans;

  if (timed_out || pr.status == http::h1::ParseStatus::kError) {
    ProxyError e =
        timed_out ? ProxyError::kRequestTimeout : error_for_parse_status(pr.error_status);
    ex.request_id = new_request_id(w);
    ex.close_client = true;
    co_await send_error(ex, e, "",
                        timed_out ? "request head not received in time" : pr.error_reason);
    co_return Next::kClose;
  }
  c.buf.consume(pr.consumed);
  ex.spans.parsed_ns = rt::mono_ns();

  // ---- route ----
  ex.route = ls->router->match(req);  // an HTTP session serves HTTP listeners only
  ex.spans.routed_ns = rt::mono_ns();
  if (const std::string* rid = req.headers.get("x-request-id"); rid && !rid->empty()) {
    ex.request_id = *rid;
  } else {
    ex.request_id = new_request_id(w);
  }
  ex.trace = req.headers.get_or("x-causeway-trace", "") == "1";

  if (!ex.route) {
    co_await send_error(ex, ProxyError::kNoRoute, "", "");
  } else if (ex.route->cfg.direct_response) {
    co_await send_direct(ex, *ex.route->cfg.direct_response);
  } else if (ex.route->cfg.redirect) {
    co_await send_redirect(ex, *ex.route->cfg.redirect);
  } else {
    co_await forward(ex);
  }

  // ---- account ----
  int64_t end_ns = rt::mono_ns();
  if (ex.route) {
    RouteStats* rs = gen->route_stats[size_t(ls->index)][size_t(ex.route->index)];
    if (ex.status >= 100 && ex.status < 600) rs->by_status[ex.status].inc();
    rs->latency.observe_us(uint64_t(end_ns - ex.spans.start_ns) / 1000);
  }
  write_access_log(w, ex, end_ns);

  if (ex.close_client || down.close_after() || !req.keep_alive || !down.body_done())
    co_return Next::kClose;
  co_return Next::kContinue;
}

}  // namespace

rt::Task<void> serve_http(Worker* worker, rt::TcpStream client, std::string listener_key) {
  Worker& w = *worker;
  rt::EventLoop& loop = w.loop();
  SessionEntry entry;
  entry.stream = &client;
  w.session_opened(entry);
  ConnBuffer buf(w.buffers());
  Connection conn{w, client, buf, listener_key, client.peer().ip()};
  bool first = true;

  for (;;) {
    std::shared_ptr<WorkerGeneration> gen = w.generation();
    const ListenerSnapshot* ls = gen->snap->listener(listener_key);
    if (!ls) break;  // the listener was removed by a reload

    // Between requests the connection holds no buffer: idle keep-alive costs little memory.
    if (buf.empty()) {
      buf.release_if_empty();
      if (w.draining()) break;
      entry.idle = true;
      w.stats().downstream_idle.inc();
      int64_t wait_ms = first ? ls->cfg.header_read_timeout.count() : ls->cfg.idle_timeout.count();
      gen.reset();  // an idle connection must not pin an old config generation
      auto r = co_await client.wait_readable(loop.now_ms() + wait_ms);
      w.stats().downstream_idle.dec();
      entry.idle = false;
      if (!r) break;
      if (w.draining() && client.peer_closed()) break;
      gen = w.generation();
      ls = gen->snap->listener(listener_key);
      if (!ls) break;
    }
    if (co_await serve_one(conn, std::move(gen), ls) == Next::kClose) break;
    first = false;
  }
  w.session_closed(entry);
}

}  // namespace cw::proxy
