// Parses latency distributions, as `causeway echo --latency` and routes[].fault.delay.duration
// (and the x-causeway-fault header's delay=) write them: "20ms", "10ms-50ms", "exp:20ms".
// Thread contract: pure function; any thread.
#pragma once

#include <optional>
#include <string_view>

#include "base/latency_dist.h"

namespace cw::config {

// "" -> kNone; "20ms" fixed; "10ms-50ms" uniform (low <= high, both inclusive); "exp:20ms"
// exponential with that mean (not 0). Durations as in the config ("250ms", "1s", "1m30s"),
// each at most kMaxLatencyMs. nullopt when malformed.
std::optional<LatencyDist> parse_latency(std::string_view text);

// True when text is written as a distribution (uniform or exponential) rather than one duration.
bool is_latency_distribution(std::string_view text);

}  // namespace cw::config
