// Monotonic time in nanoseconds, and the injectable clock tests use.
// Thread contract: free functions, any thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace cw::rt {

inline int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline int64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace cw::rt
