// RetryPolicy: after a failed try, whether another goes and where. Pure decisions over the
// try's typed result, so they are tested without sockets. Today's rules (SPEC 4 retries with
// budgets and backoff arrive with the resilience issue, here):
//  - a connect failure (nothing reached the upstream) moves to another host, once, when the
//    cluster has another and time is left;
//  - a reused keep-alive connection that closed before any response byte (the upstream closed
//    it as we wrote: it never saw the request) re-sends once on a fresh connection, for any
//    method, when the body is still at hand;
//  - anything else ends the request with the error the try names.
// Thread contract: one request's, on its worker.
#pragma once

#include <cstddef>
#include <string_view>

#include "proxy/attempt.h"

namespace cw::proxy {

class RetryPolicy {
 public:
  struct Facts {
    size_t hosts = 0;              // in the cluster
    bool time_left = false;        // before the route deadline
    bool body_replayable = false;  // the request body can be sent again
  };
  struct Decision {
    bool retry = false;
    TryPlan next;
    std::string_view reason;  // the span's retry cause: "connect-failure", ...
  };

  Decision decide(const TryResult& r, const Facts& f);

 private:
  int connect_retries_ = 0;
  bool resent_ = false;
};

}  // namespace cw::proxy
