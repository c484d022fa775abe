// HealthState: the threshold state machine of one host under active health checks. A host
// starts unchecked (it serves traffic); its first check result decides at once (a host that is
// down at start-up is marked down, never fatal); afterwards `unhealthy_threshold` consecutive
// failures mark it unhealthy and `healthy_threshold` consecutive successes healthy again.
// starts_unserving() makes the other kind: a target nothing vouches for yet (a registry
// instance) is held out until its first check passes.
// Thread contract: a plain value owned by one thread (the control thread's health monitor);
// pure: results and times are parameters.
#pragma once

#include <cstdint>
#include <string_view>

namespace cw::resilience {

enum class HealthVerdict : uint8_t { kUnchecked, kHealthy, kUnhealthy };
std::string_view verdict_name(HealthVerdict v);  // "unchecked", "healthy", "unhealthy"

struct HealthThresholds {
  uint32_t healthy = 2;    // consecutive successes that bring an unhealthy host back
  uint32_t unhealthy = 3;  // consecutive failures that take a healthy host out
};

// The wait before a host's next check: interval * (1 + jitter% * (2u - 1)) for a uniform draw
// u in [0, 1), so probes of many hosts drift apart; never below 1 ms.
int64_t jittered_interval_ms(int64_t interval_ms, double jitter_percent, double u);

class HealthState {
 public:
  explicit HealthState(HealthThresholds t = {}) : t_(sanitized(t)) {}
  // A state whose unchecked host does not serve: a target that joined on its own say-so (a
  // registry instance) must prove itself before it gets traffic. The first result still
  // decides at once; a first success is a serving change (record() returns true), a first
  // failure is not (it was not serving), though the verdict leaves kUnchecked either way.
  static HealthState starts_unserving(HealthThresholds t = {}) {
    HealthState s(t);
    s.unchecked_serves_ = false;
    return s;
  }

  // Records one check's result, finished at now_ms. Returns true when the host's serving
  // status (serving()) changed, i.e. when the workers must be told.
  bool record(bool success, int64_t now_ms);
  // New thresholds (a reload changed them); the verdict and the counts are kept, and the next
  // result is judged against the new values.
  void set_thresholds(HealthThresholds t) { t_ = sanitized(t); }

  HealthVerdict verdict() const { return verdict_; }
  // Healthy hosts serve traffic, unhealthy ones do not; unchecked ones do unless the state
  // was made by starts_unserving().
  bool serving() const {
    return verdict_ == HealthVerdict::kHealthy ||
           (verdict_ == HealthVerdict::kUnchecked && unchecked_serves_);
  }
  bool unchecked_serves() const { return unchecked_serves_; }
  uint32_t consecutive_successes() const { return successes_; }
  uint32_t consecutive_failures() const { return failures_; }
  uint64_t checks() const { return checks_; }
  int64_t last_check_ms() const { return last_check_ms_; }  // 0 before the first check
  int64_t changed_ms() const { return changed_ms_; }        // when the verdict last changed
  const HealthThresholds& thresholds() const { return t_; }

 private:
  static HealthThresholds sanitized(HealthThresholds t) {
    if (t.healthy == 0) t.healthy = 1;  // 0 would mean "never judge": treat as 1
    if (t.unhealthy == 0) t.unhealthy = 1;
    return t;
  }

  HealthThresholds t_;
  bool unchecked_serves_ = true;  // false: starts_unserving()
  HealthVerdict verdict_ = HealthVerdict::kUnchecked;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  uint64_t checks_ = 0;
  int64_t last_check_ms_ = 0;
  int64_t changed_ms_ = 0;
};

}  // namespace cw::resilience
