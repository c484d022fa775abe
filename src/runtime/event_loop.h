// EventLoop: one edge-triggered epoll loop per worker thread. Sockets register once; readiness
// is cached in IoState; waiting coroutines are resumed straight from the loop.
// Thread contract: everything runs on the loop's thread except post() and stop().
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "runtime/clock.h"
#include "runtime/timer_wheel.h"

namespace cw::rt {

class EventLoop;

// Something suspended on a socket: a coroutine, plus the completion step the loop runs when
// the socket becomes ready (it may retry the syscall and keep waiting).
struct IoWaiter {
  void (*on_ready)(IoWaiter*) = nullptr;
  // Called when the socket is closed under the waiter: fail the operation, resume later.
  void (*on_cancel)(IoWaiter*) = nullptr;
};

// Per-socket readiness cache. Owned by the socket object; freed by the loop only after the
// current batch of events, so a stale event never touches freed memory.
struct IoState {
  int fd = -1;
  bool readable = false;  // last known: data (or EOF) may be waiting
  bool writable = false;
  bool hup = false;   // peer closed (EPOLLRDHUP / EPOLLHUP) or error
  bool dead = false;  // closed; events for it are ignored
  IoWaiter* reader = nullptr;
  IoWaiter* writer = nullptr;
};

class EventLoop {
 public:
  // clock: where now_ms() comes from; tests pass a ManualClock and call run_once().
  explicit EventLoop(const Clock* clock = nullptr);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop(). Returns after the current iteration finishes.
  void run();
  // One iteration: waits for events up to timeout_ms (0 = poll, -1 = until the next timer),
  // refreshes the clock, dispatches readiness, fires due timers, resumes deferred coroutines.
  // For tests that drive the loop step by step (with a ManualClock).
  void run_once(int timeout_ms = 0);
  // Thread-safe: asks run() to return.
  void stop();
  // Thread-safe: runs fn on the loop thread soon. Control-plane messages only (config
  // snapshots, drain), never per request.
  void post(std::function<void()> fn);

  // Registers fd once for IN|OUT|RDHUP edge-triggered events. Returns nullptr on failure.
  IoState* add(int fd);
  // Closes fd and retires its state (freed after the current batch). Coroutines waiting on it
  // are failed with operation_canceled and resumed on a later turn of the loop.
  void close(IoState* st);
  // After run() returned: resumes deferred coroutines and runs posted messages until none is
  // left, so coroutines cancelled at shutdown (closed sockets) finish and free their frames.
  void run_deferred();
  // Resumes h on a later turn of the loop (never from inside the caller's stack).
  void defer(std::coroutine_handle<> h) { deferred_.push_back(h); }

  // Cached time, refreshed once per loop iteration.
  int64_t now_ns() const { return now_ns_; }
  int64_t now_ms() const { return now_ns_ / 1'000'000; }
  void refresh_now();

  TimerWheel& timers() { return timers_; }
  void arm_timer_ms(TimerNode& n, int64_t delay_ms) { timers_.arm(n, now_ms() + delay_ms); }

  bool stopping() const { return stop_.load(std::memory_order_relaxed); }
  uint64_t iterations() const { return iterations_; }

  // The loop running on this thread, or nullptr.
  static EventLoop* current();

 private:
  void drain_posted();
  void free_retired();
  void iterate(int timeout_ms);

  const Clock* clock_;
  int epfd_ = -1;
  int wakefd_ = -1;
  IoState wake_state_;
  int64_t now_ns_ = 0;
  TimerWheel timers_;
  std::atomic<bool> stop_{false};
  uint64_t iterations_ = 0;
  std::vector<IoState*> retired_;
  std::vector<std::coroutine_handle<>> deferred_;
  std::vector<IoState*> free_states_;  // recycled: no malloc per connection once warm
  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> wake_pending_{false};
};

// co_await sleep_for(loop, ms): suspends the coroutine for about ms milliseconds.
class SleepAwaiter {
 public:
  SleepAwaiter(EventLoop& loop, int64_t ms) : loop_(loop), ms_(ms) {}
  ~SleepAwaiter() { loop_.timers().cancel(node_); }
  bool await_ready() const noexcept { return ms_ <= 0; }
  void await_suspend(std::coroutine_handle<> h) {
    h_ = h;
    node_.ctx = this;
    node_.fire = [](TimerNode* n) { static_cast<SleepAwaiter*>(n->ctx)->h_.resume(); };
    loop_.arm_timer_ms(node_, ms_);
  }
  void await_resume() const noexcept {}

 private:
  EventLoop& loop_;
  int64_t ms_;
  std::coroutine_handle<> h_;
  TimerNode node_;
};
inline SleepAwaiter sleep_for(EventLoop& loop, int64_t ms) { return SleepAwaiter(loop, ms); }

}  // namespace cw::rt
