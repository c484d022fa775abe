// The per-request query knobs of echo (?echo_headers, ?status, ?size, ?delay; see
// echo_service.h), parsed without allocating.
// Thread contract: pure functions, any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace cw::echo::detail {

constexpr uint64_t kMaxSize = uint64_t{1} << 30;  // ?size= limit

// What the query asked for.
struct Knobs {
  bool echo_headers = false;
  int status = 0;  // 0: not set
  bool has_size = false;
  uint64_t size = 0;
  int64_t delay_ms = 0;
};

// Parses a query string (without '?'); values are not percent-decoded and unknown keys are
// ignored. nullptr on success, else a static reason for the 400 answer.
const char* parse_knobs(std::string_view query, Knobs& k);

}  // namespace cw::echo::detail
