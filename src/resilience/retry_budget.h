// RetryBudget: retries at most `percent` of requests over a sliding window, plus a reserve of
// `min_per_second` x window so a quiet cluster can still retry (Finagle's and Linkerd's budget).
// A retry withdraws when it is decided, before its back-off wait, so tries waiting in back-off
// count against it. When every host fails, the budget caps the load the proxy adds at about
// (1 + percent/100) x the clients' requests: no retry storm.
// Thread contract: one worker's (each worker keeps its own budget per cluster); no locking.
#pragma once

#include <cstdint>

namespace cw::resilience {

class RetryBudget {
 public:
  static constexpr int kBuckets = 10;         // the window, in one-second buckets
  static constexpr int64_t kBucketMs = 1000;

  RetryBudget(double percent = 20, uint32_t min_per_second = 10) { configure(percent, min_per_second); }
  void configure(double percent, uint32_t min_per_second);

  // A client request (its first try) to the cluster.
  void on_request(int64_t now_ms);
  // A retry wants to go: true (and counted) when the budget has room.
  bool try_withdraw(int64_t now_ms);

  // Over the current window, for the admin API and tests.
  uint64_t requests(int64_t now_ms);
  uint64_t retries(int64_t now_ms);

 private:
  void advance(int64_t now_ms);  // forgets buckets older than the window

  double ratio_ = 0.2;
  double reserve_ = 100;  // min_per_second x window seconds
  int64_t epoch_ = -1;    // index (now / kBucketMs) of the newest bucket
  uint64_t req_[kBuckets] = {};
  uint64_t ret_[kBuckets] = {};
  uint64_t req_sum_ = 0;
  uint64_t ret_sum_ = 0;
};

}  // namespace cw::resilience
