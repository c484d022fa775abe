// The health threshold state machine. Thread contract: see health_state.h.
#include "resilience/health_state.h"

#include <algorithm>

namespace cw::resilience {

std::string_view verdict_name(HealthVerdict v) {
  switch (v) {
    case HealthVerdict::kUnchecked:
      return "unchecked";
    case HealthVerdict::kHealthy:
      return "healthy";
    case HealthVerdict::kUnhealthy:
      return "unhealthy";
  }
  return "unchecked";
}

int64_t jittered_interval_ms(int64_t interval_ms, double jitter_percent, double u) {
  const double j = std::clamp(jitter_percent, 0.0, 100.0) / 100.0;
  const double factor = 1.0 + j * (2.0 * u - 1.0);
  return std::max<int64_t>(1, int64_t(double(interval_ms) * factor + 0.5));
}

bool HealthState::record(bool success, int64_t now_ms) {
  const bool was_serving = serving();
  ++checks_;
  last_check_ms_ = now_ms;
  if (success) {
    ++successes_;
    failures_ = 0;
  } else {
    ++failures_;
    successes_ = 0;
  }
  HealthVerdict next = verdict_;
  switch (verdict_) {
    case HealthVerdict::kUnchecked:
      // The first result decides at once: waiting for thresholds at start-up would send
      // traffic to a host that is down (or hold back one that is up).
      next = success ? HealthVerdict::kHealthy : HealthVerdict::kUnhealthy;
      break;
    case HealthVerdict::kHealthy:
      if (!success && failures_ >= t_.unhealthy) next = HealthVerdict::kUnhealthy;
      break;
    case HealthVerdict::kUnhealthy:
      if (success && successes_ >= t_.healthy) next = HealthVerdict::kHealthy;
      break;
  }
  if (next != verdict_) {
    verdict_ = next;
    changed_ms_ = now_ms;
  }
  return serving() != was_serving;
}

}  // namespace cw::resilience
