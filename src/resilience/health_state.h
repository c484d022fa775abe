// HealthState: the threshold state machine of one host under active health checks. A host
// starts unchecked (it serves traffic); its first check result decides at once (a host that is
// down at start-up is marked down, never fatal); afterwards `unhealthy_threshold` consecutive
// failures mark it unhealthy and `healthy_threshold` consecutive successes healthy again.
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

  // Records one check's result, finished at now_ms. Returns true when the host's serving
  // status (serving()) changed, i.e. when the workers must be told.
  bool record(bool success, int64_t now_ms);
  // New thresholds (a reload changed them); the verdict and the counts are kept, and the next
  // result is judged against the new values.
  void set_thresholds(HealthThresholds t) { t_ = sanitized(t); }

  HealthVerdict verdict() const { return verdict_; }
  // Unchecked and healthy hosts serve traffic; unhealthy ones do not.
  bool serving() const { return verdict_ != HealthVerdict::kUnhealthy; }
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
  HealthVerdict verdict_ = HealthVerdict::kUnchecked;
  uint32_t successes_ = 0;
  uint32_t failures_ = 0;
  uint64_t checks_ = 0;
  int64_t last_check_ms_ = 0;
  int64_t changed_ms_ = 0;
};

}  // namespace cw::resilience
