// Per-request timing spans (SPEC 3 tracing): recorded on every request, rendered as
// Server-Timing when the client asks with x-causeway-trace: 1, and in the access log.
// Thread contract: one request's, on its worker.
#pragma once

#include <cstdint>
#include <string>

namespace cw::proxy {

struct Spans {
  int64_t start_ns = 0;       // first byte of the request head seen
  int64_t parsed_ns = 0;      // head parsed
  int64_t routed_ns = 0;      // route chosen
  int64_t queue_ns = 0;       // time queued for a connection (the host's pool was full)
  int64_t pool_ns = 0;        // time getting a connection from the pool (incl. checks)
  int64_t connect_ns = 0;     // time connecting (0 when reused)
  int64_t sent_ns = 0;        // request head written upstream
  int64_t first_byte_ns = 0;  // response head received
  int64_t complete_ns = 0;    // response fully sent to the client
  std::string retries;        // causes of re-sends, comma-separated

  // "parse;dur=0.01, route;dur=0.00, queue;dur=3.10, pool;dur=0.02, connect;dur=0.31,
  //  upstream;dur=1.20, total;dur=4.70, retry;desc=\"connect-failure\"" (queue only when queued)
  std::string server_timing() const;
};

}  // namespace cw::proxy
