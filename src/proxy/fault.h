// Fault injection per route (SPEC 4; docs/resilience.md "Fault injection"): the route's
// routes[].fault parts, each drawn with its percentage, and the x-causeway-fault header of a
// trusted client, drawn once per request into a FaultPlan (spans.h) that the forwarder acts on
// before the first try (delay, then reset or abort) and the relay while sending the body
// (throttle). The pure parts (header grammar, draw, body pacing) take their inputs as
// parameters so unit tests need no socket and no sleep.
// Thread contract: one request's, on the worker owning its client connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/latency_dist.h"
#include "base/random.h"
#include "config/model.h"
#include "proxy/downstream.h"
#include "proxy/forwarder.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "proxy/spans.h"
#include "runtime/event_loop.h"
#include "runtime/task.h"

namespace cw::proxy {

// What an x-causeway-fault header asks for. Each part it names fires on this request.
struct FaultRequest {
  std::optional<LatencyDist> delay;
  int abort_status = 0;       // 0: not asked
  bool reset = false;
  uint64_t throttle_bps = 0;  // 0: not asked
};

// x-causeway-fault = part *( OWS "," OWS part )
// part  = "delay=" latency        ; 200ms, 10ms-50ms, exp:20ms (at most 10m)
//       / "abort=" 3DIGIT         ; 200-599
//       / "reset"
//       / "throttle=" size        ; bytes per second: 1024, 64KiB, 1MB (at least 1)
// Names are lowercase; a part named twice keeps the last value. Returns nullptr and fills
// `out`, or a message naming what is wrong (the header is then refused with 400).
const char* parse_fault_header(std::string_view value, FaultRequest& out);

// The request's faults: every part the header names, and every route part whose percentage
// the draw hits (one uniform draw per configured part, from the worker's generator). A header
// part replaces the route's part of the same kind. Reset wins over abort, and either over
// throttle (no response body is sent); a delay comes first whatever follows.
FaultPlan plan_faults(const config::Fault* route, const FaultRequest* header, SplitMix64& rng);

// Before the first try: does nothing unless the route has faults or a trusted client sent
// x-causeway-fault (a cheap check, inlined into forward()).
inline bool may_inject_faults(const Exchange& ex);

// Draws ex's faults into ex.spans.fault, counts them, and carries out delay (on a loop timer,
// spent from the route's `deadline`), then reset or abort. True when the request goes on to
// the upstream (perhaps throttled, see relay.cc); false when this ended the exchange.
rt::Task<bool> inject_faults(Exchange& ex, int64_t deadline);

// Paces a body to a rate: slices of about 100 ms worth, each sent when the bytes so far are
// due ((sent + n) / rate after the start): a body of S bytes takes at least S / rate.
class BodyPacer {
 public:
  BodyPacer(uint64_t bytes_per_second, int64_t start_ms)
      : bps_(bytes_per_second), start_ms_(start_ms) {}
  bool active() const { return bps_ != 0; }
  // How much of `want` bytes to send next (0 only when want is 0).
  size_t slice(size_t want) const;
  // Milliseconds to wait at now_ms before `n` more bytes are due (0: send now).
  int64_t wait_ms(size_t n, int64_t now_ms) const;
  void sent(size_t n) { sent_ += n; }

 private:
  uint64_t bps_;
  int64_t start_ms_;
  uint64_t sent_ = 0;
};

// Sends data (and `end`) through down, paced: sleeps on loop timers between slices; each write
// has idle_ms to complete.
rt::Task<Result<void>> send_paced(Downstream& down, rt::EventLoop& loop, BodyPacer& pacer,
                                  std::string_view data, bool end, int64_t idle_ms);

// ---- inline ----

inline bool may_inject_faults(const Exchange& ex) {
  if (ex.route->cfg.fault) return true;
  if (ex.listener.cfg.trusted_proxies.empty()) return false;
  for (const http::Header& h : ex.req.headers) {
    if (h.token == http::HeaderToken::kXCausewayFault) return true;
  }
  return false;
}

}  // namespace cw::proxy
