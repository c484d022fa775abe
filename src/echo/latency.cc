// Latency distributions. Thread contract: see latency.h.
#include "echo/latency.h"

#include <algorithm>
#include <cmath>

#include "config/units.h"

namespace cw::echo {
namespace detail {

std::optional<int64_t> parse_ms(std::string_view s) {
  auto d = config::parse_duration(s);
  if (!d) return std::nullopt;
  return int64_t(d->count());
}

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
      return std::min(int64_t(std::llround(v)), kMaxDelayMs);
    }
  }
  return 0;
}

}  // namespace detail

std::optional<LatencyDist> parse_latency(std::string_view text) {
  LatencyDist d;
  if (text.empty()) return d;
  auto in_range = [](std::optional<int64_t> v) {
    return v && *v >= 0 && *v <= detail::kMaxDelayMs;
  };
  if (text.starts_with("exp:")) {
    auto mean = detail::parse_ms(text.substr(4));
    if (!in_range(mean) || *mean == 0) return std::nullopt;
    d.kind = LatencyDist::Kind::kExponential;
    d.a_ms = *mean;
    return d;
  }
  const size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    auto lo = detail::parse_ms(text.substr(0, dash));
    auto hi = detail::parse_ms(text.substr(dash + 1));
    if (!in_range(lo) || !in_range(hi) || *lo > *hi) return std::nullopt;
    d.kind = LatencyDist::Kind::kUniform;
    d.a_ms = *lo;
    d.b_ms = *hi;
    return d;
  }
  auto fixed = detail::parse_ms(text);
  if (!in_range(fixed)) return std::nullopt;
  d.kind = LatencyDist::Kind::kFixed;
  d.a_ms = *fixed;
  return d;
}

}  // namespace cw::echo
