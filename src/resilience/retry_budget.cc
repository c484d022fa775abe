// The retry budget's window arithmetic. Thread contract: see retry_budget.h.
#include "resilience/retry_budget.h"

namespace cw::resilience {

void RetryBudget::configure(double percent, uint32_t min_per_second) {
  ratio_ = percent < 0 ? 0 : percent / 100.0;
  reserve_ = double(min_per_second) * double(kBuckets * kBucketMs / 1000);
}

void RetryBudget::advance(int64_t now_ms) {
  const int64_t e = now_ms / kBucketMs;
  if (epoch_ < 0 || e - epoch_ >= kBuckets) {
    for (int i = 0; i < kBuckets; ++i) req_[i] = ret_[i] = 0;
    req_sum_ = ret_sum_ = 0;
  } else {
    for (int64_t k = epoch_ + 1; k <= e; ++k) {  // at most kBuckets steps
      const int i = int(k % kBuckets);
      req_sum_ -= req_[i];
      ret_sum_ -= ret_[i];
      req_[i] = ret_[i] = 0;
    }
  }
  if (e > epoch_) epoch_ = e;  // a clock that steps back keeps the newest bucket
}

void RetryBudget::on_request(int64_t now_ms) {
  advance(now_ms);
  ++req_[epoch_ % kBuckets];
  ++req_sum_;
}

bool RetryBudget::try_withdraw(int64_t now_ms) {
  advance(now_ms);
  if (double(ret_sum_ + 1) > ratio_ * double(req_sum_) + reserve_) return false;
  ++ret_[epoch_ % kBuckets];
  ++ret_sum_;
  return true;
}

uint64_t RetryBudget::requests(int64_t now_ms) {
  advance(now_ms);
  return req_sum_;
}

uint64_t RetryBudget::retries(int64_t now_ms) {
  advance(now_ms);
  return ret_sum_;
}

}  // namespace cw::resilience
