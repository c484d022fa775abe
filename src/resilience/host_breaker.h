// Per-host circuit breaker: closed -> open after N consecutive failures -> half-open after the
// open time -> at most K probes in flight; a probe success closes it, a probe failure re-opens it
// for twice as long as the last time (capped at 8 x open_time). Pure: the caller passes the time
// and arms the timer that calls on_open_end at open_until_ms.
// Thread contract: one owner thread (a worker).
#pragma once

#include <algorithm>
#include <cstdint>

namespace cw::resilience {

struct HostBreakerSettings {
  uint32_t consecutive_failures = 5;  // 0 = the breaker never opens
  int64_t open_ms = 10000;
  uint32_t half_open_requests = 1;
};

enum class BreakerState : uint8_t { kClosed, kOpen, kHalfOpen };
const char* breaker_state_name(BreakerState s);  // "closed", "open", "half_open"

class HostBreaker {
 public:
  static constexpr int kMaxGrowth = 8;  // open time cap, in multiples of open_ms

  BreakerState state() const { return state_; }
  int64_t open_until_ms() const { return open_until_ms_; }
  uint32_t probes() const { return probes_; }
  uint32_t consecutive_failures() const { return failures_; }

  // Whether a new request may go to the host now: closed, or half-open with a probe slot free.
  bool admits(const HostBreakerSettings& s) const {
    return state_ == BreakerState::kClosed ||
           (state_ == BreakerState::kHalfOpen && probes_ < s.half_open_requests);
  }
  // A request was sent to the host (counts a probe while half-open).
  void on_start() {
    if (state_ == BreakerState::kHalfOpen) ++probes_;
  }
  // A try that began with on_start ended saying nothing (the pool was full, the client left):
  // its probe slot is free again.
  void on_neutral() {
    if (state_ == BreakerState::kHalfOpen && probes_ > 0) --probes_;
  }
  void on_success() {
    failures_ = 0;
    if (state_ != BreakerState::kHalfOpen) return;  // an answer from before it opened: ignore
    state_ = BreakerState::kClosed;
    probes_ = 0;
    growth_ = 1;
  }
  // Returns true when this failure opens the breaker (the caller arms the open-end timer).
  bool on_failure(const HostBreakerSettings& s, int64_t now_ms) {
    if (state_ == BreakerState::kOpen) return false;
    if (state_ == BreakerState::kHalfOpen) {  // a failed probe: open again, for longer
      growth_ = std::min(growth_ * 2, kMaxGrowth);
      return open(s, now_ms);
    }
    if (s.consecutive_failures == 0 || ++failures_ < s.consecutive_failures) return false;
    return open(s, now_ms);
  }
  // The open time ran out: half-open, probes admitted.
  void on_open_end() {
    if (state_ != BreakerState::kOpen) return;
    state_ = BreakerState::kHalfOpen;
    probes_ = 0;
  }

 private:
  bool open(const HostBreakerSettings& s, int64_t now_ms) {
    state_ = BreakerState::kOpen;
    failures_ = 0;
    probes_ = 0;
    open_until_ms_ = now_ms + s.open_ms * growth_;
    return true;
  }

  BreakerState state_ = BreakerState::kClosed;
  uint32_t failures_ = 0;
  uint32_t probes_ = 0;
  int growth_ = 1;
  int64_t open_until_ms_ = 0;
};

inline const char* breaker_state_name(BreakerState s) {
  switch (s) {
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
    case BreakerState::kClosed:
      break;
  }
  return "closed";
}

}  // namespace cw::resilience
