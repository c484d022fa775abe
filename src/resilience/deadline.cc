// Deadline header parsing and writing. Thread contract: see deadline.h.
#include "resilience/deadline.h"

#include <cstdio>

namespace cw::resilience {

std::optional<int64_t> parse_deadline_ms(std::string_view v) {
  if (v.empty() || v.size() > 10) return std::nullopt;
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n > kMaxDeadlineMs ? kMaxDeadlineMs : n;
}

std::optional<int64_t> parse_grpc_timeout_ms(std::string_view v) {
  // TimeoutValue is 1-8 ASCII digits (gRPC over HTTP/2, "Requests").
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  int64_t ms;
  switch (v.back()) {
    case 'H': ms = n * 3'600'000; break;
    case 'M': ms = n * 60'000; break;
    case 'S': ms = n * 1000; break;
    case 'm': ms = n; break;
    case 'u': ms = (n + 999) / 1000; break;
    case 'n': ms = (n + 999'999) / 1'000'000; break;
    default: return std::nullopt;
  }
  return ms > kMaxDeadlineMs ? kMaxDeadlineMs : ms;
}

size_t format_grpc_timeout(int64_t ms, char* out) {
  if (ms < 0) ms = 0;
  int n;
  if (ms <= 99'999'999) {
    n = std::snprintf(out, 12, "%lldm", static_cast<long long>(ms));
  } else {
    n = std::snprintf(out, 12, "%lldS", static_cast<long long>((ms + 999) / 1000));
  }
  return n > 0 ? size_t(n) : 0;
}

}  // namespace cw::resilience
