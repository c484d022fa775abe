// Server-Timing rendering. Thread contract: see spans.h.
#include "proxy/spans.h"

#include <cstdio>

namespace cw::proxy {

static void add(std::string& out, const char* name, int64_t ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%s;dur=%.3f", out.empty() ? "" : ", ", name,
                double(ns < 0 ? 0 : ns) / 1e6);
  out += buf;
}

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
  return out;
}

}  // namespace cw::proxy
