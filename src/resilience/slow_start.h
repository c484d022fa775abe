// Slow start: a host new to a cluster, or back from unhealthy or ejected, takes a share that
// ramps from min_percent to full over a window. Thread contract: a pure function.
#pragma once

#include <algorithm>
#include <cstdint>

namespace cw::resilience {

// Slow start: the weight, in percent of full, of a host that (re)joined at since_ms; linear
// from min_percent at since_ms to 100 at since_ms + window_ms.
inline double slow_start_percent(int64_t since_ms, int64_t now_ms, int64_t window_ms,
                                 double min_percent) {
  if (window_ms <= 0 || now_ms >= since_ms + window_ms) return 100.0;
  const double t = double(std::max<int64_t>(now_ms - since_ms, 0)) / double(window_ms);
  return min_percent + (100.0 - min_percent) * t;
}

}  // namespace cw::resilience
