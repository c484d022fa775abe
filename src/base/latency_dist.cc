// Latency draws. Thread contract: see latency_dist.h.
#include "base/latency_dist.h"

#include <algorithm>
#include <cmath>

namespace cw {

int64_t sample_latency(const LatencyDist& d, SplitMix64& rng) {
  switch (d.kind) {
    case LatencyDist::Kind::kNone:
      return 0;
    case LatencyDist::Kind::kFixed:
      return d.a_ms;
    case LatencyDist::Kind::kUniform:
      return d.a_ms +
             std::min(int64_t(rng.uniform() * double(d.b_ms - d.a_ms + 1)), d.b_ms - d.a_ms);
    case LatencyDist::Kind::kExponential: {
      const double v = -double(d.a_ms) * std::log1p(-rng.uniform());
      return std::min(int64_t(std::llround(v)), kMaxLatencyMs);
    }
  }
  return 0;
}

}  // namespace cw
