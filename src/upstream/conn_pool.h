// ConnPool: idle keep-alive connections to one upstream host, per worker. Bounded (max total,
// max idle), LIFO reuse, idle timeout by a timer per idle connection (O(1)), stale check before
// reuse. A try that finds the pool full may wait in its FIFO queue (PoolWait): a connection
// released back goes straight to the first waiter, and a slot freed (a connection closed) is
// reserved for it, so a newcomer never overtakes the queue. Thread contract: owned by one
// worker; never shared.
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/event_loop.h"
#include "runtime/stream.h"
#include "upstream/stats.h"

namespace cw::upstream {

struct PoolLimits {
  size_t max_connections = 1024;
  size_t max_idle = 64;
  int64_t idle_timeout_ms = 60000;
};

struct UpstreamConn {
  std::unique_ptr<rt::Stream> stream;  // TCP today; TLS wraps it later
  std::string head_buffer;   // the codec writes request heads here: capacity reused per request
  uint64_t requests = 0;     // served on this connection
  bool reused = false;       // true when taken from the pool rather than freshly connected
  rt::TimerNode idle_timer;  // armed while idle in the pool
};

class ConnPool;

// co_await PoolWait(pool, deadline_ms): waits in the pool's FIFO queue until a connection is
// handed over (kConnection: take_connection()), a slot is reserved for a new one (kSlot: connect
// into it, as after reserve()), or the deadline (loop ms) passes (kTimeout). It lives in the
// waiting coroutine's frame; destroyed early, it leaves the queue and gives back what it got.
class PoolWait {
 public:
  enum class Outcome : uint8_t { kConnection, kSlot, kTimeout };
  PoolWait(ConnPool& pool, int64_t deadline_ms) : pool_(pool), deadline_ms_(deadline_ms) {}
  ~PoolWait();
  PoolWait(const PoolWait&) = delete;
  PoolWait& operator=(const PoolWait&) = delete;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  Outcome await_resume() noexcept {
    claimed_ = true;
    return outcome_;
  }
  std::unique_ptr<UpstreamConn> take_connection() { return std::move(conn_); }

 private:
  friend class ConnPool;
  static void on_timeout(rt::TimerNode* n);
  ConnPool& pool_;
  int64_t deadline_ms_;
  PoolWait* prev_ = nullptr;  // the queue's links, while queued
  PoolWait* next_ = nullptr;
  bool queued_ = false;
  bool woken_ = false;    // handed an outcome by the pool (not by its own timer)
  bool claimed_ = false;  // the outcome reached the waiter
  Outcome outcome_ = Outcome::kTimeout;
  std::unique_ptr<UpstreamConn> conn_;
  rt::TimerNode timer_;
  std::coroutine_handle<> h_;
};

class ConnPool {
 public:
  // stats: the cluster's counters in this worker's shard (outlives the pool).
  ConnPool(rt::EventLoop& loop, PoolLimits limits, ClusterStats* stats)
      : loop_(loop), limits_(limits), stats_(stats) {}
  ~ConnPool();
  ConnPool(const ConnPool&) = delete;
  ConnPool& operator=(const ConnPool&) = delete;

  // A raised limit serves queued tries at once.
  void set_limits(PoolLimits l);
  // A live idle connection, or nullptr (stale ones are closed on the way).
  std::unique_ptr<UpstreamConn> checkout();
  // Room for one more connection? Counts it as open when true (release() or discard() later).
  bool reserve();
  // At max_connections: reserve() would fail (and checkout() has nothing when no idle is left).
  bool full() const { return open_ >= limits_.max_connections; }
  // Returns a healthy connection for reuse (or closes it when over max_idle).
  void release(std::unique_ptr<UpstreamConn> c);
  // A connection (reserved or checked out) went away.
  void discard(std::unique_ptr<UpstreamConn> c);
  void unreserve();
  // Closes idle connections (reload removed the host, drain).
  void close_idle();

  size_t idle() const { return idle_.size(); }
  size_t open() const { return open_; }
  size_t waiting() const { return waiting_; }  // tries queued in PoolWait
  void set_stats(ClusterStats* s) { stats_ = s; }

 private:
  friend class PoolWait;
  static void on_idle_timeout(rt::TimerNode* n);
  void enqueue(PoolWait& w);
  void dequeue(PoolWait& w);
  // A slot freed (open_ dropped): reserve it for queued tries while there is room.
  void serve_queue();
  // Hands the first waiter its outcome and resumes it on a later turn of the loop.
  void wake_first(PoolWait::Outcome o, std::unique_ptr<UpstreamConn> c);

  rt::EventLoop& loop_;
  PoolLimits limits_;
  std::vector<std::unique_ptr<UpstreamConn>> idle_;  // LIFO: the most recently used is warmest
  size_t open_ = 0;
  PoolWait* first_ = nullptr;  // FIFO of queued tries (intrusive; they live in their frames)
  PoolWait* last_ = nullptr;
  size_t waiting_ = 0;
  ClusterStats* stats_;
};

}  // namespace cw::upstream
