// Outlier detection for one cluster as seen by one worker: per-host consecutive-5xx and
// consecutive-gateway-failure counters, success-rate outliers judged once per interval, and the
// ejection back-off (base x times ejected, capped; decays by one per quiet base period).
// Envoy's semantics. Pure: every call takes the time (ms); the owner arms the timers.
// Thread contract: one owner thread (a worker); no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cw::resilience {

// What one finished try says about its host.
enum class Outcome : uint8_t {
  kNeutral,         // says nothing: the client's fault, the pool was full, the try never began
  kSuccess,         // a response below 500
  k5xx,             // a 5xx other than 502/503/504
  kGatewayFailure,  // 502/503/504, or no usable answer: connect failed, reset, timed out
};
// The outcome of a response status.
inline Outcome outcome_of_status(int status) {
  if (status < 500) return Outcome::kSuccess;
  if (status >= 502 && status <= 504) return Outcome::kGatewayFailure;
  return Outcome::k5xx;
}

enum class EjectReason : uint8_t {
  kNone,
  kConsecutive5xx,
  kConsecutiveGatewayFailure,
  kSuccessRate
};
inline constexpr size_t kEjectReasons = 4;     // index of the counters, kNone unused
const char* eject_reason_name(EjectReason r);  // "consecutive_5xx", ...

struct OutlierSettings {
  bool enabled = true;
  uint32_t consecutive_5xx = 5;              // 0 = off
  uint32_t consecutive_gateway_failure = 5;  // 0 = off
  int64_t base_ejection_ms = 30000;
  int64_t max_ejection_ms = 300000;
  double max_ejection_percent = 10;
  int64_t interval_ms = 10000;  // success-rate judgement and decay period
  uint32_t success_rate_minimum_hosts = 5;
  uint32_t success_rate_request_volume = 100;
  double success_rate_stdev_factor = 1.9;  // 0 = success-rate detection off
};

struct HostOutlierState {
  uint32_t consecutive_5xx = 0;
  uint32_t consecutive_gateway = 0;
  bool ejected = false;
  int64_t ejected_until_ms = 0;   // when ejected
  uint32_t times_ejected = 0;     // the back-off multiplier; decays while the host behaves
  int64_t decay_mark_ms = 0;      // start of the current quiet period (set on return)
  uint64_t interval_success = 0;  // this interval's answers, for the success rate
  uint64_t interval_total = 0;
};

class OutlierDetector {
 public:
  OutlierDetector(const OutlierSettings& s, size_t hosts) : s_(s), hosts_(hosts) {}

  const OutlierSettings& settings() const { return s_; }
  size_t size() const { return hosts_.size(); }
  size_t ejected_count() const { return ejected_; }
  const HostOutlierState& host(size_t i) const { return hosts_[i]; }
  // For carrying a host's state into a rebuilt detector (same host key).
  void adopt(size_t i, const HostOutlierState& st);

  // Records one try's outcome; returns the reason when it ejects the host now (the owner then
  // takes the host out until host(i).ejected_until_ms), else kNone.
  EjectReason on_outcome(size_t i, Outcome o, int64_t now_ms);
  // The ejection of host i has run out: it returns (counters cleared, quiet period starts).
  void uneject(size_t i, int64_t now_ms);
  // Once per interval: applies decay and judges success rates. Appends the hosts it ejects to
  // `ejected` and resets the interval counts. Returns whether anything is still worth another
  // tick (traffic this interval, or a back-off left to decay), so an idle cluster stops its timer.
  bool on_interval(int64_t now_ms, std::vector<size_t>& ejected);

  // A new ejection is allowed while the ejected share is below max_ejection_percent (Envoy):
  // with 0 ejected any one host may go, whatever the percent (unless the percent is 0).
  bool may_eject() const;
  // How long the next ejection of a host lasts when it has been ejected `times` times
  // (including this one): base x times, capped at max(max_ejection, base).
  int64_t ejection_ms(uint32_t times) const;

 private:
  void decay(HostOutlierState& h, int64_t now_ms) const;
  bool eject(size_t i, int64_t now_ms);

  OutlierSettings s_;
  std::vector<HostOutlierState> hosts_;
  size_t ejected_ = 0;
};

// Success-rate outliers (pure math, exposed for tests): among rates (percent) of hosts with
// enough volume, the threshold below which a host is an outlier: mean - factor x stdev
// (population stdev). Returns false when fewer than `minimum_hosts` qualify.
bool success_rate_threshold(const std::vector<double>& rates, uint32_t minimum_hosts, double factor,
                            double& threshold);

}  // namespace cw::resilience
