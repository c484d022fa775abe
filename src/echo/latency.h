// Injected latency for echo: the --latency distributions ("20ms", "10ms-50ms", "exp:20ms")
// parsed once at start-up and sampled per request.
// Thread contract: parsing is pure; sampling uses the calling worker's generator.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/random.h"

namespace cw::echo {

// A parsed latency distribution, in milliseconds.
struct LatencyDist {
  enum class Kind : uint8_t { kNone, kFixed, kUniform, kExponential };
  Kind kind = Kind::kNone;
  int64_t a_ms = 0;  // fixed value, uniform low bound, or exponential mean
  int64_t b_ms = 0;  // uniform high bound
};

// "" -> kNone; "20ms"; "10ms-50ms" (low <= high); "exp:20ms". Durations as in the config
// ("250ms", "1s", "1m30s"), at most 10m. nullopt when malformed.
std::optional<LatencyDist> parse_latency(std::string_view text);

namespace detail {

constexpr int64_t kMaxDelayMs = 10 * 60'000;  // latency and ?delay cap

// A config duration ("250ms", "1s") in milliseconds; nullopt when malformed.
std::optional<int64_t> parse_ms(std::string_view s);

// One draw from d, in milliseconds (an exponential draw is capped at kMaxDelayMs).
int64_t sample_latency(const LatencyDist& d, SplitMix64& rng);

}  // namespace detail
}  // namespace cw::echo
