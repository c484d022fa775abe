// Retry decisions. Thread contract: see retry_policy.h.
#include "proxy/retry_policy.h"

namespace cw::proxy {
namespace {

// The reason a condition gives in spans and metrics.
std::string_view cause_reason(TryCause c) {
  switch (c) {
    case TryCause::kConnectRefused:
    case TryCause::kConnectTimeout:
    case TryCause::kConnectFailed:
      return "connect-failure";
    case TryCause::kResetBeforeResponse:
    case TryCause::kResetDuringResponse:
      return "reset";
    case TryCause::kTimeout:
      return "timeout";
    case TryCause::kBadResponse:
      return "bad-response";
    default:
      return "other";
  }
}

std::string_view status_reason(int status) {
  static constexpr std::string_view kCodes[] = {"500", "501", "502", "503", "504",
                                                "505", "506", "507", "508"};
  if (status >= 500 && status <= 508) return kCodes[status - 500];
  if (status >= 500) return "5xx";
  if (status == 409) return "409";
  return "4xx";
}

}  // namespace

bool idempotent_method(std::string_view m) {
  // Methods are case-sensitive (RFC 9110 9.1).
  for (std::string_view s : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    if (m == s) return true;
  }
  return false;
}

RetryPolicy::RetryPolicy(const config::RetryPolicy* cfg, bool idempotent_request) {
  if (!cfg) {  // the default: one more host after a connect failure
    on_ = kOnConnectFailure;
    attempts_ = 2;
    other_host_only_ = true;  // as before retries were configurable: no second try on the same
    return;
  }
  attempts_ = cfg->attempts < 1 ? 1 : cfg->attempts;
  per_try_ms_ = cfg->per_try_timeout ? cfg->per_try_timeout->count() : 0;
  backoff_base_ms_ = cfg->backoff_base.count();
  backoff_max_ms_ = cfg->backoff_max.count();
  may_reach_ok_ = idempotent_request || cfg->non_idempotent;
  for (const std::string& c : cfg->retry_on) {
    if (c == "connect-failure") on_ |= kOnConnectFailure;
    else if (c == "refused") on_ |= kOnRefused;
    else if (c == "reset") on_ |= kOnReset;
    else if (c == "timeout") on_ |= kOnTimeout;
    else if (c == "5xx") on_ |= kOn5xx;
    else if (c == "gateway-error") on_ |= kOnGatewayError;
    else if (c == "retriable-4xx") on_ |= kOnRetriable4xx;
    else if (nstatuses_ < 8 && c.size() == 3) statuses_[nstatuses_++] = uint16_t(std::stoi(c));
  }
  // Conditions met after the request went out need the body again for the next try.
  resend_after_send_ = attempts_ > 1 && may_reach_ok_ &&
                       ((on_ & ~uint32_t(kOnConnectFailure | kOnRefused)) != 0 || nstatuses_ > 0);
}

bool RetryPolicy::wants_status(int status) const {
  if (attempts_ <= 1 || status < 400) return false;
  if (status >= 500 && (on_ & kOn5xx)) return true;
  if ((status == 502 || status == 503 || status == 504) && (on_ & kOnGatewayError)) return true;
  if (status == 409 && (on_ & kOnRetriable4xx)) return true;
  for (int i = 0; i < nstatuses_; ++i) {
    if (statuses_[i] == status) return true;
  }
  return false;
}

bool RetryPolicy::matches(const TryResult& r, int status) const {
  if (r.ok()) return wants_status(status);
  // Envoy's meaning: 5xx and gateway-error also cover an upstream that did not answer.
  const uint32_t no_answer = kOn5xx | kOnGatewayError;
  switch (r.cause) {
    case TryCause::kConnectRefused:
      return on_ & (kOnConnectFailure | kOnRefused | no_answer);
    case TryCause::kConnectTimeout:
    case TryCause::kConnectFailed:
      return on_ & (kOnConnectFailure | no_answer);
    case TryCause::kResetBeforeResponse:
    case TryCause::kResetDuringResponse:
      return on_ & (kOnReset | no_answer);
    case TryCause::kTimeout:
      return on_ & (kOnTimeout | no_answer);
    case TryCause::kBadResponse:
      return on_ & no_answer;  // answered as a 502
    default:
      return false;  // no host, pool full, the client's own failures
  }
}

RetryPolicy::Decision RetryPolicy::decide(const TryResult& r, int status, const Facts& f) {
  Decision d;
  if (is_client_failure(r.cause)) return d;
  if (!r.ok() && r.cause == TryCause::kResetBeforeResponse && r.reused && !resent_ &&
      f.body_replayable) {
    // The keep-alive race: the upstream closed a reused connection as we sent on it. It never
    // saw the request, so one re-send on a fresh connection is safe for any method.
    resent_ = true;
    d.retry = true;
    d.next.fresh_connection = true;
    d.reason = "reused-connection-closed";
    return d;
  }
  if (tries_ >= attempts_ || !f.time_left || !matches(r, status)) return d;
  if (other_host_only_ && f.hosts < 2) return d;
  // Past a connect failure the upstream may have seen the request: re-send only what is safe.
  if (!is_connect_failure(r.cause) && !may_reach_ok_) return d;
  if (!f.body_replayable) return d;
  ++tries_;
  d.retry = true;
  d.counted = true;
  if (f.hosts > 1) d.next.exclude = r.host;
  d.reason = r.ok() ? status_reason(status) : cause_reason(r.cause);
  return d;
}

}  // namespace cw::proxy
