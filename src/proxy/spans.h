// Per-request timing spans (SPEC 3 tracing): recorded on every request, rendered as
// Server-Timing when the client asks with x-causeway-trace: 1, and in the access log.
// Thread contract: one request's, on its worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cw::proxy {

// The kinds of injected fault (proxy/fault.h), as metrics label them.
enum class FaultKind : uint8_t { kDelay, kAbort, kReset, kThrottle, kCount };
std::string_view fault_kind_name(FaultKind k);  // "delay", "abort", "reset", "throttle"

// The faults injected into one request, drawn once before it is forwarded (fault.h).
struct FaultPlan {
  int64_t delay_ms = -1;      // held back this long first; < 0: no delay
  int abort_status = 0;       // answered by the proxy with this status; 0: no abort
  bool reset = false;         // client connection reset, no response
  uint64_t throttle_bps = 0;  // response body paced to this rate; 0: no throttle

  bool any() const { return delay_ms >= 0 || abort_status != 0 || reset || throttle_bps != 0; }
  bool has(FaultKind k) const;
  // In the x-causeway-fault grammar ("delay=200ms, abort=503"): replayable as the header.
  std::string describe() const;
};

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
  // Every try when there was more than one: "1 127.0.0.3:9002 reset_before_response",
  // "2 127.0.0.2:9001 200". Empty on the common path (one try).
  std::vector<std::string> tries;
  FaultPlan fault;            // injected faults (none on most requests)

  // "parse;dur=0.01, route;dur=0.00, queue;dur=3.10, pool;dur=0.02, connect;dur=0.31,
  //  upstream;dur=1.20, total;dur=4.70, retry;desc=\"connect-failure\",
  //  try;desc=\"1 127.0.0.3:9002 connect_refused\", try;desc=\"2 127.0.0.2:9001 200\",
  //  fault;desc=\"delay\";dur=200" (queue only when a try queued; tries when there were several)
  std::string server_timing() const;
};

}  // namespace cw::proxy
