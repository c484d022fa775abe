// Parsers for the config's units: durations ("250ms", "3s", "1m30s") and sizes ("64KiB", "10KB").
// Thread contract: pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/model.h"

namespace cw::config {

// A duration: one or more <number><unit> parts, Go style ("250ms", "3s", "1.5s", "1m30s", "1h").
// Units: us, ms, s, m, h. Numbers may have a fraction ("0.5s"). The result has millisecond
// resolution and must be a whole number of milliseconds: "1500us" is refused, "2000us" is 2ms,
// "500us" is refused (below 1ms). "0" (bare zero, or "0s", "0ms") is zero; whether zero is allowed
// is the caller's decision. A number without a unit other than 0 is refused ("3" is ambiguous).
// No sign, no spaces. Values above 1000 days are refused.
std::optional<Duration> parse_duration(std::string_view text);

// A byte size: a whole number with an optional unit. Binary units KiB, MiB, GiB, TiB (x1024^n);
// decimal units KB, MB, GB, TB (x1000^n); B or no unit = bytes. Units are case-insensitive
// ("64kib", "10kB"). Single letters ("64k") are refused as ambiguous. Overflow is refused.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace cw::config
