// EventLoop with an injected clock: timers fire when time is advanced by hand, posted messages
// run on the loop, sleeps resume in order; no real waiting.
#include "runtime/event_loop.h"

#include <gtest/gtest.h>

#include <vector>

#include "runtime/clock.h"
#include "runtime/task.h"

namespace cw::rt {
namespace {

TEST(EventLoop, ManualClockDrivesNowAndTimers) {
  ManualClock clock;
  EventLoop loop(&clock);
  const int64_t t0 = loop.now_ms();
  EXPECT_EQ(t0, clock.now_ms());

  int fired = 0;
  TimerNode n;
  n.ctx = &fired;
  n.fire = [](TimerNode* t) { ++*static_cast<int*>(t->ctx); };
  loop.arm_timer_ms(n, 250);

  loop.run_once(0);
  EXPECT_EQ(fired, 0);
  clock.advance_ms(249);
  loop.run_once(0);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(loop.now_ms(), t0 + 249);
  clock.advance_ms(1);
  loop.run_once(0);
  EXPECT_EQ(fired, 1);
}

Task<void> sleeper(EventLoop* loop, int64_t ms, int id, std::vector<int>* order) {
  co_await sleep_for(*loop, ms);
  order->push_back(id);
}

TEST(EventLoop, SleepsResumeInDeadlineOrderWithoutRealTime) {
  ManualClock clock;
  EventLoop loop(&clock);
  std::vector<int> order;
  spawn(sleeper(&loop, 3000, 3, &order));
  spawn(sleeper(&loop, 10, 1, &order));
  spawn(sleeper(&loop, 1500, 2, &order));
  for (int i = 0; i < 40; ++i) {
    clock.advance_ms(100);
    loop.run_once(0);
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoop, PostedMessagesRunOnTheLoop) {
  EventLoop loop;
  int ran = 0;
  loop.post([&] { ++ran; });
  loop.post([&] { ++ran; });
  EXPECT_EQ(ran, 0);
  loop.run_once(0);
  EXPECT_EQ(ran, 2);
}

TEST(EventLoop, StopEndsRun) {
  EventLoop loop;
  loop.post([&] { loop.stop(); });
  loop.run();  // returns because the posted message stopped it
  EXPECT_TRUE(loop.stopping());
}

}  // namespace
}  // namespace cw::rt
