// Hashed timing wheel with 1 ms ticks: O(1) arm and cancel (intrusive nodes), which matters
// because every request arms and cancels timeouts. Thread contract: owned by one event loop.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cw::rt {

struct TimerNode {
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  int64_t expiry_tick = 0;
  void (*fire)(TimerNode*) = nullptr;  // called once when the timer expires
  void* ctx = nullptr;                 // for fire's use
  bool armed() const { return prev != nullptr; }
};

class TimerWheel {
 public:
  static constexpr int kSlots = 1024;  // one rotation = 1.024 s; longer timers wait out turns

  explicit TimerWheel(int64_t now_tick);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms n to fire at `tick` (ms). Re-arming an armed node moves it.
  void arm(TimerNode& n, int64_t tick);
  void cancel(TimerNode& n);  // no-op when not armed
  // Fires every timer due at or before now_tick. Callbacks may arm and cancel freely.
  void advance(int64_t now_tick);
  // Milliseconds until the next slot that holds a timer (may wake early for long timers),
  // or -1 when no timer is armed.
  int next_timeout_ms() const;
  std::size_t size() const { return count_; }

 private:
  struct Slot {
    TimerNode head;  // sentinel of a circular list
  };
  Slot slots_[kSlots];
  // A set bit may be stale (slot emptied by cancel); scans clear it lazily.
  mutable uint64_t occupied_[kSlots / 64] = {};
  int64_t current_tick_;
  std::size_t count_ = 0;
};

}  // namespace cw::rt
