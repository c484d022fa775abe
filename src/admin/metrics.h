// Prometheus text exposition (format 0.0.4) of the summed stats shards, for GET /metrics.
// Thread contract: control thread (sums shards via stats_sum.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "admin/stats_sum.h"
#include "health/monitor.h"

namespace cw::admin {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

struct MetricsInfo {
  uint64_t config_generation = 0;
  std::string version;
  const health::HealthMonitor* health = nullptr;  // checks and host verdicts, when present
  const registry::Registry* registry = nullptr;     // when the registry runs
  std::optional<DnsNumbers> dns;                    // when the DNS server runs
  std::optional<ResolverNumbers> resolver;          // with discovery: dns clusters
};

std::string render_metrics(const StatsSum& stats, const MetricsInfo& info);

// A label value escaped per the exposition format: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);

}  // namespace cw::admin
