// Outlier detection state machine (see outlier.h). Thread contract: see outlier.h.
#include "resilience/outlier.h"

#include <algorithm>
#include <cmath>

namespace cw::resilience {

const char* eject_reason_name(EjectReason r) {
  switch (r) {
    case EjectReason::kConsecutive5xx:
      return "consecutive_5xx";
    case EjectReason::kConsecutiveGatewayFailure:
      return "consecutive_gateway_failure";
    case EjectReason::kSuccessRate:
      return "success_rate";
    case EjectReason::kNone:
      break;
  }
  return "none";
}

void OutlierDetector::adopt(size_t i, const HostOutlierState& st) {
  if (hosts_[i].ejected) --ejected_;
  hosts_[i] = st;
  if (st.ejected) ++ejected_;
}

bool OutlierDetector::may_eject() const {
  if (hosts_.empty()) return false;
  return 100.0 * double(ejected_) / double(hosts_.size()) < s_.max_ejection_percent;
}

int64_t OutlierDetector::ejection_ms(uint32_t times) const {
  const int64_t cap = std::max(s_.max_ejection_ms, s_.base_ejection_ms);
  if (times == 0) times = 1;
  // base x times, without overflowing for a host ejected many times over.
  if (s_.base_ejection_ms > 0 && int64_t(times) > cap / s_.base_ejection_ms) return cap;
  return std::min(cap, s_.base_ejection_ms * int64_t(times));
}

void OutlierDetector::decay(HostOutlierState& h, int64_t now_ms) const {
  // One step per full base period the host has been back without a new ejection.
  if (h.ejected || h.times_ejected == 0 || s_.base_ejection_ms <= 0) return;
  const int64_t quiet = now_ms - h.decay_mark_ms;
  if (quiet < s_.base_ejection_ms) return;
  const int64_t steps = quiet / s_.base_ejection_ms;
  if (steps >= int64_t(h.times_ejected)) {
    h.times_ejected = 0;
  } else {
    h.times_ejected -= uint32_t(steps);
  }
  h.decay_mark_ms += steps * s_.base_ejection_ms;
}

bool OutlierDetector::eject(size_t i, int64_t now_ms) {
  HostOutlierState& h = hosts_[i];
  if (h.ejected || !may_eject()) return false;
  decay(h, now_ms);
  ++h.times_ejected;
  h.ejected = true;
  h.ejected_until_ms = now_ms + ejection_ms(h.times_ejected);
  h.consecutive_5xx = 0;
  h.consecutive_gateway = 0;
  ++ejected_;
  return true;
}

EjectReason OutlierDetector::on_outcome(size_t i, Outcome o, int64_t now_ms) {
  if (!s_.enabled || o == Outcome::kNeutral || i >= hosts_.size()) return EjectReason::kNone;
  HostOutlierState& h = hosts_[i];
  if (h.ejected) return EjectReason::kNone;  // answers still in flight when it went out
  ++h.interval_total;
  if (o == Outcome::kSuccess) {
    ++h.interval_success;
    h.consecutive_5xx = 0;
    h.consecutive_gateway = 0;
    return EjectReason::kNone;
  }
  // Every failure is a 5xx; a 500 breaks a run of gateway failures (Envoy).
  ++h.consecutive_5xx;
  h.consecutive_gateway = o == Outcome::kGatewayFailure ? h.consecutive_gateway + 1 : 0;
  // >= rather than ==: a host held in by max_ejection_percent goes at its next failure once
  // there is room, instead of needing a fresh run.
  if (s_.consecutive_gateway_failure > 0 &&
      h.consecutive_gateway >= s_.consecutive_gateway_failure && eject(i, now_ms)) {
    return EjectReason::kConsecutiveGatewayFailure;
  }
  if (s_.consecutive_5xx > 0 && h.consecutive_5xx >= s_.consecutive_5xx && eject(i, now_ms)) {
    return EjectReason::kConsecutive5xx;
  }
  return EjectReason::kNone;
}

void OutlierDetector::uneject(size_t i, int64_t now_ms) {
  HostOutlierState& h = hosts_[i];
  if (!h.ejected) return;
  h.ejected = false;
  h.ejected_until_ms = 0;
  h.decay_mark_ms = now_ms;
  h.consecutive_5xx = 0;
  h.consecutive_gateway = 0;
  h.interval_success = h.interval_total = 0;
  --ejected_;
}

bool success_rate_threshold(const std::vector<double>& rates, uint32_t minimum_hosts, double factor,
                            double& threshold) {
  if (rates.empty() || rates.size() < minimum_hosts) return false;
  double sum = 0;
  for (double r : rates) sum += r;
  const double mean = sum / double(rates.size());
  double var = 0;
  for (double r : rates) var += (r - mean) * (r - mean);
  const double stdev = std::sqrt(var / double(rates.size()));
  threshold = mean - factor * stdev;
  return true;
}

bool OutlierDetector::on_interval(int64_t now_ms, std::vector<size_t>& ejected) {
  bool busy = false;
  for (auto& h : hosts_) {
    decay(h, now_ms);
    if (h.interval_total > 0 || h.times_ejected > 0 || h.ejected) busy = true;
  }
  if (s_.enabled && s_.success_rate_stdev_factor > 0) {
    std::vector<double> rates;
    std::vector<size_t> who;
    for (size_t i = 0; i < hosts_.size(); ++i) {
      const HostOutlierState& h = hosts_[i];
      if (h.ejected || h.interval_total < s_.success_rate_request_volume || h.interval_total == 0)
        continue;
      rates.push_back(100.0 * double(h.interval_success) / double(h.interval_total));
      who.push_back(i);
    }
    double threshold = 0;
    if (success_rate_threshold(rates, s_.success_rate_minimum_hosts, s_.success_rate_stdev_factor,
                               threshold)) {
      for (size_t k = 0; k < who.size(); ++k) {
        if (rates[k] < threshold && eject(who[k], now_ms)) ejected.push_back(who[k]);
      }
    }
  }
  for (auto& h : hosts_) h.interval_success = h.interval_total = 0;
  return busy;
}

}  // namespace cw::resilience
