// ConnPool: idle keep-alive connections to one upstream host, per worker. Bounded (max total,
// max idle), LIFO reuse, idle timeout by a timer per idle connection (O(1)), stale check before
// reuse. Thread contract: owned by one worker; never shared.
#pragma once

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

class ConnPool {
 public:
  // stats: the cluster's counters in this worker's shard (outlives the pool).
  ConnPool(rt::EventLoop& loop, PoolLimits limits, ClusterStats* stats)
      : loop_(loop), limits_(limits), stats_(stats) {}
  ~ConnPool();
  ConnPool(const ConnPool&) = delete;
  ConnPool& operator=(const ConnPool&) = delete;

  void set_limits(PoolLimits l) { limits_ = l; }
  // A live idle connection, or nullptr (stale ones are closed on the way).
  std::unique_ptr<UpstreamConn> checkout();
  // Room for one more connection? Counts it as open when true (release() or discard() later).
  bool reserve();
  // Returns a healthy connection for reuse (or closes it when over max_idle).
  void release(std::unique_ptr<UpstreamConn> c);
  // A connection (reserved or checked out) went away.
  void discard(std::unique_ptr<UpstreamConn> c);
  void unreserve();
  // Closes idle connections (reload removed the host, drain).
  void close_idle();

  size_t idle() const { return idle_.size(); }
  size_t open() const { return open_; }
  void set_stats(ClusterStats* s) { stats_ = s; }

 private:
  static void on_idle_timeout(rt::TimerNode* n);
  rt::EventLoop& loop_;
  PoolLimits limits_;
  std::vector<std::unique_ptr<UpstreamConn>> idle_;  // LIFO: the most recently used is warmest
  size_t open_ = 0;
  ClusterStats* stats_;
};

}  // namespace cw::upstream
