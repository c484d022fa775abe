// Latency distribution parsing. Thread contract: see latency.h.
#include "config/latency.h"

#include "config/units.h"

namespace cw::config {
namespace {

// A duration in [0, kMaxLatencyMs] milliseconds, or nullopt.
std::optional<int64_t> bounded_ms(std::string_view s) {
  auto d = parse_duration(s);
  if (!d || d->count() < 0 || d->count() > kMaxLatencyMs) return std::nullopt;
  return int64_t(d->count());
}

}  // namespace

bool is_latency_distribution(std::string_view text) {
  return text.starts_with("exp:") || text.find('-') != std::string_view::npos;
}

std::optional<LatencyDist> parse_latency(std::string_view text) {
  LatencyDist d;
  if (text.empty()) return d;
  if (text.starts_with("exp:")) {
    auto mean = bounded_ms(text.substr(4));
    if (!mean || *mean == 0) return std::nullopt;
    d.kind = LatencyDist::Kind::kExponential;
    d.a_ms = *mean;
    return d;
  }
  const size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    auto lo = bounded_ms(text.substr(0, dash));
    auto hi = bounded_ms(text.substr(dash + 1));
    if (!lo || !hi || *lo > *hi) return std::nullopt;
    d.kind = LatencyDist::Kind::kUniform;
    d.a_ms = *lo;
    d.b_ms = *hi;
    return d;
  }
  auto fixed = bounded_ms(text);
  if (!fixed) return std::nullopt;
  d.kind = LatencyDist::Kind::kFixed;
  d.a_ms = *fixed;
  return d;
}

}  // namespace cw::config
