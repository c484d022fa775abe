// AckLatch: a coroutine waits for acknowledgements posted by other threads, and a missing one
// ends the wait at the time bound instead of hanging it.
#include "runtime/latch.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "runtime/task.h"

namespace cw::rt {
namespace {

Task<void> wait_for_acks(EventLoop* loop, std::shared_ptr<AckLatch> latch, int64_t timeout_ms,
                         int* pending) {
  *pending = co_await latch->wait(timeout_ms);
  loop->stop();
}

TEST(AckLatch, ResumesWhenEveryThreadHasAcknowledged) {
  EventLoop loop;
  auto latch = std::make_shared<AckLatch>(loop, 3);
  int pending = -1;
  spawn(wait_for_acks(&loop, latch, 10'000, &pending));
  std::vector<std::thread> senders;
  for (int i = 0; i < 3; ++i) {
    senders.emplace_back([&loop, latch] { loop.post([latch] { latch->ack(); }); });
  }
  loop.run();
  for (auto& t : senders) t.join();
  EXPECT_EQ(pending, 0);
  EXPECT_EQ(latch->pending(), 0);
}

TEST(AckLatch, AMissingAcknowledgementEndsTheWaitAtTheBound) {
  EventLoop loop;
  auto latch = std::make_shared<AckLatch>(loop, 2);
  int pending = -1;
  spawn(wait_for_acks(&loop, latch, 30, &pending));
  std::thread one([&loop, latch] { loop.post([latch] { latch->ack(); }); });
  loop.run();
  one.join();
  EXPECT_EQ(pending, 1);
  latch->ack();  // a late acknowledgement after the wait ended is harmless
  EXPECT_EQ(latch->pending(), 0);
}

TEST(AckLatch, NothingToWaitFor) {
  EventLoop loop;
  auto latch = std::make_shared<AckLatch>(loop, 0);
  int pending = -1;
  spawn(wait_for_acks(&loop, latch, 10'000, &pending));
  EXPECT_EQ(pending, 0);  // finished without suspending
  loop.run_deferred();
}

}  // namespace
}  // namespace cw::rt
