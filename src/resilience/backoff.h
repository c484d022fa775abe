// Backoff: how long the n-th retry waits. Exponential with full jitter (a uniform draw in
// [0, min(max, base * 2^n)]), so clients that failed together do not retry together.
// Thread contract: pure functions; the caller's generator (one per worker).
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/random.h"

namespace cw::resilience {

// The ceiling of the n-th retry's wait (n = 0 for the first retry): base * 2^n, capped at max.
inline int64_t backoff_ceiling_ms(int64_t base_ms, int64_t max_ms, int retry) {
  if (base_ms <= 0 || max_ms <= 0) return 0;
  int64_t c = base_ms;
  for (int i = 0; i < retry && c < max_ms; ++i) c *= 2;
  return std::min(c, max_ms);
}

// Full jitter: uniform in [0, ceiling].
inline int64_t backoff_ms(int64_t base_ms, int64_t max_ms, int retry, SplitMix64& rng) {
  const int64_t c = backoff_ceiling_ms(base_ms, max_ms, retry);
  return c == 0 ? 0 : int64_t(rng.next() % uint64_t(c + 1));
}

}  // namespace cw::resilience
