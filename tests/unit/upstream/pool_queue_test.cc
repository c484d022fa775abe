// The pool's pending queue (PoolWait) on an event loop driven by a ManualClock: FIFO order,
// the queue timeout, a released connection handed straight to the first waiter, a freed slot
// reserved for it, a raised limit serving the queue.
// Connections are socketpairs (the queue never reads them). No sleeps: time moves by hand.
// Thread contract: single-threaded.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <vector>

#include "runtime/task.h"
#include "runtime/tcp.h"
#include "upstream/conn_pool.h"

namespace cw::upstream {
namespace {

using Outcome = PoolWait::Outcome;

class PoolQueueTest : public ::testing::Test {
 protected:
  ~PoolQueueTest() override {
    for (int fd : peers_) ::close(fd);
  }

  std::unique_ptr<ConnPool> make_pool(size_t max_connections) {
    return std::make_unique<ConnPool>(loop, PoolLimits{max_connections, 8, 60000}, &stats);
  }
  // A connection the pool can hold (its peer end stays open until the test ends).
  std::unique_ptr<UpstreamConn> connection() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peers_.push_back(sv[1]);
    auto s = rt::TcpStream::adopt(loop, sv[0], *rt::SocketAddress::from_ip_port("127.0.0.1", 1));
    EXPECT_TRUE(s);
    auto c = std::make_unique<UpstreamConn>();
    c->stream = std::make_unique<rt::TcpStream>(std::move(*s));
    return c;
  }

  struct Waiter {
    int id;
    std::optional<Outcome> outcome;
    std::unique_ptr<UpstreamConn> conn;
  };
  static rt::Task<void> wait(PoolQueueTest* t, ConnPool* pool, Waiter* w, int64_t deadline) {
    PoolWait pw(*pool, deadline);
    w->outcome = co_await pw;
    w->conn = pw.take_connection();
    t->order.push_back(w->id);
  }
  void start(ConnPool& pool, Waiter& w, int64_t wait_ms) {
    rt::spawn(wait(this, &pool, &w, loop.now_ms() + wait_ms));
  }
  void turn() { loop.run_once(0); }

  rt::ManualClock clock;
  rt::EventLoop loop{&clock};
  ClusterStats stats;
  std::vector<int> order;  // waiter ids, in the order they resumed
  std::vector<int> peers_;
};

TEST_F(PoolQueueTest, ReleasedConnectionsGoToWaitersInArrivalOrder) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool->reserve());
  auto busy = connection();
  Waiter a{1}, b{2}, c{3};
  start(*pool, a, 1000);
  start(*pool, b, 1000);
  start(*pool, c, 1000);
  EXPECT_EQ(pool->waiting(), 3u);

  UpstreamConn* raw = busy.get();
  pool->release(std::move(busy));
  EXPECT_EQ(pool->idle(), 0u) << "handed over, never idle: no newcomer can take it first";
  EXPECT_FALSE(a.outcome) << "resumed on a later turn, not inside release()";
  turn();
  ASSERT_EQ(a.outcome, Outcome::kConnection);
  EXPECT_EQ(a.conn.get(), raw);
  EXPECT_TRUE(a.conn->reused);
  EXPECT_EQ(pool->waiting(), 2u);

  pool->release(std::move(a.conn));
  turn();
  ASSERT_EQ(b.outcome, Outcome::kConnection);
  pool->release(std::move(b.conn));
  turn();
  ASSERT_EQ(c.outcome, Outcome::kConnection);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(pool->open(), 1u) << "one connection served all three";
  EXPECT_EQ(stats.reuses.get(), 3u);
}

TEST_F(PoolQueueTest, AFreedSlotIsReservedForTheFirstWaiter) {
  auto pool = make_pool(2);
  ASSERT_TRUE(pool->reserve());
  ASSERT_TRUE(pool->reserve());
  auto first = connection();
  Waiter a{1}, b{2};
  start(*pool, a, 1000);
  start(*pool, b, 1000);
  pool->discard(std::move(first));  // closed (not reusable): its slot goes to the queue
  EXPECT_EQ(pool->open(), 2u) << "the freed slot is held for the waiter";
  EXPECT_FALSE(pool->reserve()) << "a newcomer cannot take the waiter's slot";
  turn();
  EXPECT_EQ(a.outcome, Outcome::kSlot);
  EXPECT_FALSE(b.outcome);
  pool->unreserve();  // the connect in that slot failed: the next waiter gets it
  turn();
  EXPECT_EQ(b.outcome, Outcome::kSlot);
  EXPECT_EQ(pool->waiting(), 0u);
  EXPECT_EQ(stats.open_connections.get(), 2);
}

TEST_F(PoolQueueTest, AWaiterGivesUpAtItsDeadlineAndLeavesTheQueue) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool->reserve());
  Waiter a{1}, b{2};
  start(*pool, a, 100);
  start(*pool, b, 300);
  clock.advance_ms(99);
  turn();
  EXPECT_FALSE(a.outcome);
  clock.advance_ms(1);
  turn();
  EXPECT_EQ(a.outcome, Outcome::kTimeout);
  EXPECT_EQ(pool->waiting(), 1u);
  // The slot freed now goes to the waiter still queued, not to the one that left.
  pool->unreserve();
  turn();
  EXPECT_EQ(b.outcome, Outcome::kSlot);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(pool->open(), 1u);
}

TEST_F(PoolQueueTest, ARaisedLimitServesTheQueue) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool->reserve());
  Waiter a{1}, b{2}, c{3};
  start(*pool, a, 1000);
  start(*pool, b, 1000);
  start(*pool, c, 1000);
  pool->set_limits(PoolLimits{3, 8, 60000});  // a reload raised max_connections
  turn();
  EXPECT_EQ(a.outcome, Outcome::kSlot);
  EXPECT_EQ(b.outcome, Outcome::kSlot);
  EXPECT_FALSE(c.outcome);
  EXPECT_EQ(pool->open(), 3u);
  clock.advance_ms(1000);  // c times out: no frame is left suspended
  turn();
  EXPECT_EQ(c.outcome, Outcome::kTimeout);
}

TEST_F(PoolQueueTest, AWaitNeverAwaitedLeavesNoTrace) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool->reserve());
  {
    PoolWait w(*pool, loop.now_ms() + 1000);
    // Never awaited: not queued, and its destructor must not touch the queue or the counts.
  }
  EXPECT_EQ(pool->waiting(), 0u);
  Waiter a{1};
  start(*pool, a, 1000);
  EXPECT_EQ(pool->waiting(), 1u);
  clock.advance_ms(1000);
  turn();
  EXPECT_EQ(a.outcome, Outcome::kTimeout);
  EXPECT_EQ(pool->waiting(), 0u);
  EXPECT_EQ(pool->open(), 1u);
}

TEST_F(PoolQueueTest, AReleasedConnectionWithNoWaiterIdlesAsBefore) {
  auto pool = make_pool(1);
  ASSERT_TRUE(pool->reserve());
  pool->release(connection());
  EXPECT_EQ(pool->idle(), 1u);
  EXPECT_NE(pool->checkout(), nullptr);
  EXPECT_TRUE(pool->full());
}

}  // namespace
}  // namespace cw::upstream
