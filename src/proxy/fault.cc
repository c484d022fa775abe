// Fault injection. Thread contract: see fault.h.
#include "proxy/fault.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "config/latency.h"
#include "config/units.h"
#include "proxy/worker.h"

namespace cw::proxy {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One uniform draw against a percentage (0-100): 0 never fires, 100 always does.
bool hit(double percent, SplitMix64& rng) { return rng.uniform() * 100.0 < percent; }

}  // namespace

const char* parse_fault_header(std::string_view value, FaultRequest& out) {
  out = FaultRequest{};
  bool any = false;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view part = trim(value.substr(0, comma));
    if (part.empty()) return "empty part (expected delay=, abort=, reset or throttle=)";
    const size_t eq = part.find('=');
    const std::string_view name = part.substr(0, eq);
    const std::string_view arg = eq == std::string_view::npos ? "" : part.substr(eq + 1);
    if (name == "reset") {
      if (eq != std::string_view::npos) return "reset takes no value";
      out.reset = true;
    } else if (eq == std::string_view::npos || arg.empty()) {
      return name == "delay" || name == "abort" || name == "throttle"
                 ? "delay, abort and throttle need a value (delay=200ms, abort=503, "
                   "throttle=1KiB)"
                 : "unknown part (expected delay=, abort=, reset or throttle=)";
    } else if (name == "delay") {
      auto d = config::parse_latency(arg);
      if (!d) return "delay must be 200ms, 10ms-50ms or exp:20ms (at most 10m)";
      out.delay = *d;
    } else if (name == "abort") {
      int s = 0;
      auto r = std::from_chars(arg.data(), arg.data() + arg.size(), s);
      if (r.ec != std::errc() || r.ptr != arg.data() + arg.size() || s < 200 || s > 599)
        return "abort must be a status from 200 to 599";
      out.abort_status = s;
    } else if (name == "throttle") {
      auto v = config::parse_size(arg);
      if (!v || *v == 0) return "throttle must be a rate in bytes per second such as 1KiB";
      out.throttle_bps = *v;
    } else {
      return "unknown part (expected delay=, abort=, reset or throttle=)";
    }
    any = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return any ? nullptr : "empty";
}

FaultPlan plan_faults(const config::Fault* route, const FaultRequest* header, SplitMix64& rng) {
  FaultPlan p;
  if (route) {
    if (route->delay && hit(route->delay->percent, rng))
      p.delay_ms = sample_latency(route->delay->duration, rng);
    if (route->abort && hit(route->abort->percent, rng)) p.abort_status = route->abort->status;
    if (route->reset && hit(route->reset->percent, rng)) p.reset = true;
    if (route->throttle && hit(route->throttle->percent, rng))
      p.throttle_bps = route->throttle->bytes_per_second;
  }
  if (header) {
    if (header->delay) p.delay_ms = sample_latency(*header->delay, rng);
    if (header->abort_status) p.abort_status = header->abort_status;
    if (header->reset) p.reset = true;
    if (header->throttle_bps) p.throttle_bps = header->throttle_bps;
  }
  // Only what will happen is recorded (and counted): nothing follows a reset, no body an abort.
  if (p.reset) p.abort_status = 0;
  if (p.reset || p.abort_status) p.throttle_bps = 0;
  return p;
}

rt::Task<bool> inject_faults(Exchange& ex, int64_t deadline) {
  const std::string_view cluster = ex.route->cfg.cluster;
  FaultRequest asked;
  const FaultRequest* header = nullptr;
  if (const std::string* v = ex.req.headers.get("x-causeway-fault");
      v && ex.listener.trusted_proxy(ex.peer)) {
    if (const char* err = parse_fault_header(*v, asked)) {
      co_await send_error(ex, ProxyError::kBadRequest, cluster,
                          std::string("x-causeway-fault: ") + err);
      co_return false;
    }
    header = &asked;
  }
  const config::Fault* route = ex.route->cfg.fault ? &*ex.route->cfg.fault : nullptr;
  FaultPlan& plan = ex.spans.fault;
  plan = plan_faults(route, header, ex.worker.rng());
  if (!plan.any()) co_return true;

  RouteStats& stats = *ex.gen.route_stats[size_t(ex.listener.index)][size_t(ex.route->index)];
  for (size_t k = 0; k < size_t(FaultKind::kCount); ++k) {
    if (plan.has(FaultKind(k))) stats.faults[k].inc();
  }
  const std::string_view source =
      header && header->abort_status ? "x-causeway-fault" : "routes[].fault";

  rt::EventLoop& loop = ex.worker.loop();
  if (plan.delay_ms >= 0) {
    // The delay is spent from the route's timeout, as an upstream's slowness would be.
    co_await rt::sleep_for(loop, std::min(plan.delay_ms, deadline - loop.now_ms()));
    if (loop.now_ms() >= deadline) {
      co_await send_error(ex, ProxyError::kUpstreamTimeout, cluster,
                          "the route timeout ran out in an injected delay");
      co_return false;
    }
  }
  if (plan.reset) {
    ex.close_client = true;
    ex.down.reset();  // RST: the client sees its connection reset, no response
    co_return false;
  }
  if (plan.abort_status) {
    co_await send_error(ex, ProxyError::kFaultAbort, cluster,
                        std::string("injected by ") + std::string(source), {}, plan.abort_status);
    co_return false;
  }
  co_return true;
}

size_t BodyPacer::slice(size_t want) const {
  const uint64_t per_tick = std::max<uint64_t>(1, bps_ / 10);  // ~100 ms of bytes
  return size_t(std::min<uint64_t>(want, per_tick));
}

int64_t BodyPacer::wait_ms(size_t n, int64_t now_ms) const {
  const double due_ms = std::ceil(double(sent_ + n) * 1000.0 / double(bps_));
  const double wait = double(start_ms_) + due_ms - double(now_ms);
  return wait > 0 ? int64_t(wait) : 0;
}

rt::Task<Result<void>> send_paced(Downstream& down, rt::EventLoop& loop, BodyPacer& pacer,
                                  std::string_view data, bool end, int64_t idle_ms) {
  do {
    const size_t n = pacer.slice(data.size());
    if (int64_t wait = pacer.wait_ms(n, loop.now_ms()); wait > 0) {
      co_await rt::sleep_for(loop, wait);
    }
    auto r = co_await down.send_body(data.substr(0, n), end && n == data.size(),
                                     loop.now_ms() + idle_ms);
    if (!r) co_return r;
    pacer.sent(n);
    data.remove_prefix(n);
  } while (!data.empty());
  co_return Result<void>{};
}

}  // namespace cw::proxy
