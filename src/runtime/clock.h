// Time: monotonic and wall readings, and the injectable Clock that event loops and upstream
// state machines read, so tests drive time by hand instead of sleeping.
// Thread contract: free functions any thread; a Clock is read by the loop that holds it
// (ManualClock is advanced by the test on that same thread).
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

// Monotonic nanoseconds. The loop reads it once per iteration; state machines read the loop's
// cached time (EventLoop::now_ms) or a Clock handed to them.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ns() const = 0;
  int64_t now_ms() const { return now_ns() / 1'000'000; }
};

// CLOCK_MONOTONIC; one instance serves every thread.
class MonotonicClock final : public Clock {
 public:
  int64_t now_ns() const override { return mono_ns(); }
};
const Clock& monotonic_clock();

// Time that moves only when told: for tests of timers, back-offs, pools and breakers.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 1'000'000'000) : now_(start_ns) {}
  int64_t now_ns() const override { return now_; }
  void advance_ms(int64_t ms) { now_ += ms * 1'000'000; }
  void advance_ns(int64_t ns) { now_ += ns; }

 private:
  int64_t now_;
};

}  // namespace cw::rt
