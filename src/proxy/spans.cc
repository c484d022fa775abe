// Server-Timing rendering. Thread contract: see spans.h.
#include "proxy/spans.h"

#include <cstdio>
#include <iterator>

namespace cw::proxy {

namespace {

void add(std::string& out, const char* name, int64_t ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%s;dur=%.3f", out.empty() ? "" : ", ", name,
                double(ns < 0 ? 0 : ns) / 1e6);
  out += buf;
}

// fault;desc="delay";dur=200, fault;desc="abort 503", fault;desc="reset",
// fault;desc="throttle 1024" (bytes per second).
void add_faults(std::string& out, const FaultPlan& f) {
  const bool was_empty = out.empty();
  char buf[80];
  if (f.delay_ms >= 0) {
    std::snprintf(buf, sizeof buf, ", fault;desc=\"delay\";dur=%lld", (long long)f.delay_ms);
    out += buf;
  }
  if (f.abort_status) {
    std::snprintf(buf, sizeof buf, ", fault;desc=\"abort %d\"", f.abort_status);
    out += buf;
  }
  if (f.reset) out += ", fault;desc=\"reset\"";
  if (f.throttle_bps) {
    std::snprintf(buf, sizeof buf, ", fault;desc=\"throttle %llu\"",
                  (unsigned long long)f.throttle_bps);
    out += buf;
  }
  if (was_empty && !out.empty()) out.erase(0, 2);
}

}  // namespace

std::string Spans::server_timing() const {
  std::string out;
  if (parsed_ns) add(out, "parse", parsed_ns - start_ns);
  if (routed_ns) add(out, "route", routed_ns - parsed_ns);
  if (queue_ns) add(out, "queue", queue_ns);  // also when the wait ended in an error
  if (sent_ns) {
    add(out, "pool", pool_ns);
    add(out, "connect", connect_ns);
  }
  if (first_byte_ns && sent_ns) add(out, "upstream", first_byte_ns - sent_ns);
  if (complete_ns) add(out, "total", complete_ns - start_ns);
  if (!retries.empty()) {
    out += ", retry;desc=\"";
    out += retries;
    out += '"';
  }
  for (const std::string& t : tries) {
    out += ", try;desc=\"";
    out += t;
    out += '"';
  }
  if (fault.any()) add_faults(out, fault);
  return out;
}

std::string_view fault_kind_name(FaultKind k) {
  constexpr std::string_view kNames[] = {"delay", "abort", "reset", "throttle"};
  static_assert(std::size(kNames) == size_t(FaultKind::kCount));
  return kNames[size_t(k)];
}

bool FaultPlan::has(FaultKind k) const {
  switch (k) {
    case FaultKind::kDelay:
      return delay_ms >= 0;
    case FaultKind::kAbort:
      return abort_status != 0;
    case FaultKind::kReset:
      return reset;
    case FaultKind::kThrottle:
    case FaultKind::kCount:
      break;
  }
  return throttle_bps != 0;
}

std::string FaultPlan::describe() const {
  std::string out;
  auto part = [&out](std::string_view name, std::string_view value) {
    if (!out.empty()) out += ", ";
    out += name;
    if (!value.empty()) {
      out += '=';
      out += value;
    }
  };
  if (delay_ms >= 0) part("delay", std::to_string(delay_ms) + "ms");
  if (abort_status) part("abort", std::to_string(abort_status));
  if (reset) part("reset", "");
  if (throttle_bps) part("throttle", std::to_string(throttle_bps));
  return out;
}

}  // namespace cw::proxy
