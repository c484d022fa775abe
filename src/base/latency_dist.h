// A latency distribution (fixed, uniform or exponential, in milliseconds) and its draws: what
// `causeway echo --latency` and a route's fault delay share. Parsing lives in config/latency.h.
// Thread contract: plain value; a draw uses the calling thread's own generator.
#pragma once

#include <cstdint>

#include "base/random.h"

namespace cw {

// Longest draw, and the longest value either form may be written with.
constexpr int64_t kMaxLatencyMs = 10 * 60'000;

struct LatencyDist {
  enum class Kind : uint8_t { kNone, kFixed, kUniform, kExponential };
  Kind kind = Kind::kNone;
  int64_t a_ms = 0;  // fixed value, uniform low bound, or exponential mean
  int64_t b_ms = 0;  // uniform high bound

  bool operator==(const LatencyDist&) const = default;
};

// One draw from d, in milliseconds: both uniform bounds are inclusive; an exponential draw is
// capped at kMaxLatencyMs; kNone draws 0.
int64_t sample_latency(const LatencyDist& d, SplitMix64& rng);

}  // namespace cw
