// Deadlines carried in headers (SPEC 4): `x-causeway-deadline` (the remaining budget in whole
// milliseconds, a decimal integer) and gRPC's `grpc-timeout` (1-8 digits and a unit, H M S m u
// n). Parsing is strict: anything else is ignored, as if absent. Writing states the budget left
// at the moment a try is sent, so the next hop knows how long it has.
// Thread contract: pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace cw::resilience {

// Budgets above this (about 24 days) are taken as this: no arithmetic overflows downstream.
constexpr int64_t kMaxDeadlineMs = int64_t(1) << 31;

// "250" -> 250. Digits only, at most 10 of them; clamped to kMaxDeadlineMs.
std::optional<int64_t> parse_deadline_ms(std::string_view v);
// "100m" -> 100, "2S" -> 2000, "1500u" -> 2 (rounded up: a budget is never lengthened by
// parsing, and a sub-millisecond budget is not zero).
std::optional<int64_t> parse_grpc_timeout_ms(std::string_view v);

// Writes ms as a grpc-timeout value ("250m"; whole seconds "S" when ms needs over 8 digits)
// into out (at least 12 bytes); returns its length.
size_t format_grpc_timeout(int64_t ms, char* out);

// The earlier of the route's deadline and now + a header's budget (absolute loop ms).
inline int64_t shorten_deadline(int64_t route_deadline, int64_t now_ms,
                                std::optional<int64_t> header_ms) {
  if (!header_ms) return route_deadline;
  const int64_t d = now_ms + *header_ms;
  return d < route_deadline ? d : route_deadline;
}

// A try's deadline: the request's, shortened by the per-try timeout (0 = none).
inline int64_t try_deadline(int64_t request_deadline, int64_t now_ms, int64_t per_try_ms) {
  if (per_try_ms <= 0) return request_deadline;
  const int64_t d = now_ms + per_try_ms;
  return d < request_deadline ? d : request_deadline;
}

}  // namespace cw::resilience
