// AckLatch: one coroutine on a loop waits for N acknowledgements that other threads send by
// posting ack() to that loop (e.g. workers confirming a config install), with a time bound so
// that a wedged sender cannot hang the waiter.
// Thread contract: every member on the owning loop's thread; senders reach it by post().
#pragma once

#include <coroutine>
#include <cstdint>
#include <utility>

#include "runtime/event_loop.h"

namespace cw::rt {

class AckLatch {
 public:
  AckLatch(EventLoop& loop, int expected) : loop_(loop), pending_(expected) {}
  ~AckLatch() { loop_.timers().cancel(timer_); }
  AckLatch(const AckLatch&) = delete;
  AckLatch& operator=(const AckLatch&) = delete;

  int pending() const { return pending_; }

  void ack() {
    if (pending_ > 0 && --pending_ == 0 && waiter_) {
      loop_.timers().cancel(timer_);
      std::exchange(waiter_, {}).resume();
    }
  }

  // co_await wait(ms): resumes once every acknowledgement arrived or after `timeout_ms`;
  // yields the number still missing (0 = all). One waiter at a time.
  class Awaiter {
   public:
    Awaiter(AckLatch& l, int64_t ms) : l_(l), ms_(ms) {}
    bool await_ready() const noexcept { return l_.pending_ == 0; }
    void await_suspend(std::coroutine_handle<> h) {
      l_.waiter_ = h;
      l_.timer_.ctx = &l_;
      l_.timer_.fire = [](TimerNode* n) {
        std::exchange(static_cast<AckLatch*>(n->ctx)->waiter_, {}).resume();
      };
      l_.loop_.arm_timer_ms(l_.timer_, ms_);
    }
    int await_resume() const noexcept { return l_.pending_; }

   private:
    AckLatch& l_;
    int64_t ms_;
  };
  Awaiter wait(int64_t timeout_ms) { return Awaiter(*this, timeout_ms); }

 private:
  EventLoop& loop_;
  int pending_;
  TimerNode timer_;
  std::coroutine_handle<> waiter_;
};

}  // namespace cw::rt
