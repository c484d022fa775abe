// Retry decisions. Thread contract: see retry_policy.h.
#include "proxy/retry_policy.h"

namespace cw::proxy {

RetryPolicy::Decision RetryPolicy::decide(const TryResult& r, const Facts& f) {
  Decision d;
  if (r.ok() || is_client_failure(r.cause)) return d;
  if (is_connect_failure(r.cause)) {
    // Nothing reached the upstream: another host is always safe to try.
    if (connect_retries_ < 1 && f.hosts > 1 && f.time_left) {
      ++connect_retries_;
      d.retry = true;
      d.next.exclude = r.host;
      d.reason = "connect-failure";
    }
    return d;
  }
  if (r.cause == TryCause::kResetBeforeResponse && r.reused && !resent_ && f.body_replayable) {
    // The keep-alive race: the upstream closed a reused connection as we sent on it. It never
    // saw the request, so one re-send on a fresh connection is safe for any method.
    resent_ = true;
    d.retry = true;
    d.next.fresh_connection = true;
    d.reason = "reused-connection-closed";
  }
  return d;
}

}  // namespace cw::proxy
