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

RetryRules RetryRules::compile(const config::RetryPolicy* cfg) {
  RetryRules r;
  if (!cfg) {  // the default: one more host after a connect failure
    r.on = kOnConnectFailure;
    r.attempts = 2;
    r.other_host_only = true;  // as before retries were configurable: no second try on the same
    return r;
  }
  r.attempts = cfg->attempts < 1 ? 1 : cfg->attempts;
  r.per_try_ms = cfg->per_try_timeout ? cfg->per_try_timeout->count() : 0;
  r.backoff_base_ms = cfg->backoff_base.count();
  r.backoff_max_ms = cfg->backoff_max.count();
  r.non_idempotent = cfg->non_idempotent;
  for (const std::string& c : cfg->retry_on) {
    if (c == "connect-failure") r.on |= kOnConnectFailure;
    else if (c == "refused") r.on |= kOnRefused;
    else if (c == "reset") r.on |= kOnReset;
    else if (c == "timeout") r.on |= kOnTimeout;
    else if (c == "5xx") r.on |= kOn5xx;
    else if (c == "gateway-error") r.on |= kOnGatewayError;
    else if (c == "retriable-4xx") r.on |= kOnRetriable4xx;
    else if (r.nstatuses < 8 && c.size() == 3) r.statuses[r.nstatuses++] = uint16_t(std::stoi(c));
  }
  return r;
}

RetryPolicy::RetryPolicy(const RetryRules& rules, bool idempotent_request)
    : rules_(rules), may_reach_ok_(idempotent_request || rules.non_idempotent) {
  using R = RetryRules;
  // Conditions met after the request went out need the body again for the next try.
  resend_after_send_ =
      rules_.attempts > 1 && may_reach_ok_ &&
      ((rules_.on & ~uint32_t(R::kOnConnectFailure | R::kOnRefused)) != 0 || rules_.nstatuses > 0);
}

bool RetryPolicy::wants_status(int status) const {
  if (rules_.attempts <= 1 || status < 400) return false;
  if (status >= 500 && (rules_.on & RetryRules::kOn5xx)) return true;
  const bool gateway = status == 502 || status == 503 || status == 504;
  if (gateway && (rules_.on & RetryRules::kOnGatewayError)) return true;
  if (status == 409 && (rules_.on & RetryRules::kOnRetriable4xx)) return true;
  for (int i = 0; i < rules_.nstatuses; ++i) {
    if (rules_.statuses[i] == status) return true;
  }
  return false;
}

bool RetryPolicy::matches(const TryResult& r, int status) const {
  if (r.ok()) return wants_status(status);
  // Envoy's meaning: 5xx and gateway-error also cover an upstream that did not answer.
  const uint32_t no_answer = RetryRules::kOn5xx | RetryRules::kOnGatewayError;
  switch (r.cause) {
    case TryCause::kConnectRefused:
      return rules_.on & (RetryRules::kOnConnectFailure | RetryRules::kOnRefused | no_answer);
    case TryCause::kConnectTimeout:
    case TryCause::kConnectFailed:
      return rules_.on & (RetryRules::kOnConnectFailure | no_answer);
    case TryCause::kResetBeforeResponse:
    case TryCause::kResetDuringResponse:
      return rules_.on & (RetryRules::kOnReset | no_answer);
    case TryCause::kTimeout:
      return rules_.on & (RetryRules::kOnTimeout | no_answer);
    case TryCause::kBadResponse:
      return rules_.on & no_answer;  // answered as a 502
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
  if (tries_ >= rules_.attempts || !f.time_left || !matches(r, status)) return d;
  if (rules_.other_host_only && f.hosts < 2) return d;
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
