// RetryPolicy: after a try, whether another goes and where (SPEC 4). Pure decisions over the
// try's typed result and the route's `retry:` settings, tested without sockets:
//  - a transport re-send, not counted as a retry: a reused keep-alive connection that closed
//    before any response byte (the upstream closed it as we wrote: it never saw the request)
//    re-sends once on a fresh connection, for any method, when the body is still at hand;
//  - a retry, counted against `attempts` (every try, the first included): only on a
//    `retry_on` condition; to another host when the cluster has one; only with time left and
//    the body replayable; and, when the request may have reached the upstream (anything but a
//    connect failure), only for an idempotent method unless the route opts in
//    (`non_idempotent: true`);
//  - a route without `retry:` retries a connect failure once on another host (nothing reached
//    the upstream, so it is always safe); `attempts: 1` turns that off.
// The retry budget, the breaker's max_retries and the back-off are applied by the caller
// (attempt.cc), which owns the clock and the cluster.
// Thread contract: one request's, on its worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/model.h"
#include "proxy/attempt.h"

namespace cw::proxy {

// RFC 9110 9.2.2 (TRACE included): a re-send of these cannot change the outcome.
bool idempotent_method(std::string_view method);

// A route's retry settings compiled once, with the router (off the request path): a request
// copies these few words instead of reading the `retry_on` strings.
struct RetryRules {
  // cfg: the route's retry settings, or null for the default (one connect-failure retry).
  static RetryRules compile(const config::RetryPolicy* cfg);

  // Condition bits.
  enum : uint32_t {
    kOnConnectFailure = 1,
    kOnRefused = 2,
    kOnReset = 4,
    kOnTimeout = 8,
    kOn5xx = 16,
    kOnGatewayError = 32,
    kOnRetriable4xx = 64,
  };
  uint32_t on = 0;
  uint16_t statuses[8] = {};  // explicit status codes from retry_on
  int nstatuses = 0;
  int attempts = 1;
  int64_t per_try_ms = 0;
  int64_t backoff_base_ms = 0;
  int64_t backoff_max_ms = 0;
  bool non_idempotent = false;   // the route re-sends what may have reached the upstream
  bool other_host_only = false;  // the default policy retries only on another host
};

class RetryPolicy {
 public:
  RetryPolicy(const RetryRules& rules, bool idempotent_request);
  // Compiles `cfg` (null: the default) on the spot: for tests and one-off callers.
  RetryPolicy(const config::RetryPolicy* cfg, bool idempotent_request)
      : RetryPolicy(RetryRules::compile(cfg), idempotent_request) {}

  struct Facts {
    size_t hosts = 0;              // in the cluster
    bool time_left = false;        // before the request's deadline
    bool body_replayable = false;  // the request body can be sent again
  };
  struct Decision {
    bool retry = false;
    bool counted = false;  // a retry (budget, attempts, back-off), not a transport re-send
    TryPlan next;
    std::string_view reason;  // the span's retry cause: "connect-failure", "503", ...
  };

  // r: the try's result; status: the response status when r.ok() (0 otherwise).
  Decision decide(const TryResult& r, int status, const Facts& f);

  // A response with this status would be retried (before the other facts are checked): the
  // forwarder's cheap test on every response.
  bool wants_status(int status) const;
  // The body should be kept for a re-send after it was sent (a retry condition needs it).
  bool may_resend_body() const { return resend_after_send_; }
  int max_attempts() const { return rules_.attempts; }
  int64_t per_try_timeout_ms() const { return rules_.per_try_ms; }
  int64_t backoff_base_ms() const { return rules_.backoff_base_ms; }
  int64_t backoff_max_ms() const { return rules_.backoff_max_ms; }
  int retries_done() const { return tries_ - 1; }

 private:
  bool matches(const TryResult& r, int status) const;

  RetryRules rules_;
  int tries_ = 1;  // counted tries so far (the first included)
  bool may_reach_ok_ = false;  // idempotent, or the route opted in
  bool resend_after_send_ = false;
  bool resent_ = false;
};

}  // namespace cw::proxy
