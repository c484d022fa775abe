// Timer wheel: firing order, cancel, long timers across rotations, next timeout.
#include "runtime/timer_wheel.h"

#include <gtest/gtest.h>

#include <vector>

namespace cw::rt {
namespace {

struct Probe {
  TimerNode node;
  std::vector<int>* log;
  int id;
};

void fire(TimerNode* n) {
  auto* p = static_cast<Probe*>(n->ctx);
  p->log->push_back(p->id);
}

TEST(TimerWheel, FiresDueTimersOnly) {
  TimerWheel w(1000);
  std::vector<int> log;
  Probe a{{}, &log, 1}, b{{}, &log, 2};
  for (Probe* p : {&a, &b}) {
    p->node.ctx = p;
    p->node.fire = fire;
  }
  w.arm(a.node, 1005);
  w.arm(b.node, 1010);
  EXPECT_EQ(w.size(), 2u);
  EXPECT_EQ(w.next_timeout_ms(), 5);
  w.advance(1004);
  EXPECT_TRUE(log.empty());
  w.advance(1007);
  EXPECT_EQ(log, std::vector<int>{1});
  w.advance(1010);
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.next_timeout_ms(), -1);
}

TEST(TimerWheel, CancelIsImmediate) {
  TimerWheel w(0);
  std::vector<int> log;
  Probe a{{}, &log, 1};
  a.node.ctx = &a;
  a.node.fire = fire;
  w.arm(a.node, 50);
  w.cancel(a.node);
  w.cancel(a.node);  // idempotent
  w.advance(100);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, LongTimersWaitOutRotations) {
  TimerWheel w(0);
  std::vector<int> log;
  Probe a{{}, &log, 7};
  a.node.ctx = &a;
  a.node.fire = fire;
  w.arm(a.node, 5000);  // ~5 rotations
  for (int64_t t = 1; t < 5000; t += 7) w.advance(t);
  EXPECT_TRUE(log.empty());
  w.advance(5000);
  EXPECT_EQ(log, std::vector<int>{7});
}

TEST(TimerWheel, StallLongerThanRotationFiresEverything) {
  TimerWheel w(0);
  std::vector<int> log;
  Probe a{{}, &log, 1}, b{{}, &log, 2};
  for (Probe* p : {&a, &b}) {
    p->node.ctx = p;
    p->node.fire = fire;
  }
  w.arm(a.node, 10);
  w.arm(b.node, 900);
  w.advance(100000);
  EXPECT_EQ(log.size(), 2u);
}

TEST(TimerWheel, CallbackMayCancelAnotherDueTimer) {
  TimerWheel w(0);
  struct Pair {
    TimerNode a, b;
    TimerWheel* w;
    int fired = 0;
  } p;
  p.w = &w;
  p.a.ctx = p.b.ctx = &p;
  p.a.fire = p.b.fire = [](TimerNode* n) {
    auto* pp = static_cast<Pair*>(n->ctx);
    ++pp->fired;
    pp->w->cancel(n == &pp->a ? pp->b : pp->a);
  };
  w.arm(p.a, 5);
  w.arm(p.b, 5);
  w.advance(5);
  EXPECT_EQ(p.fired, 1);
}

}  // namespace
}  // namespace cw::rt
