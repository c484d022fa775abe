// ConnPool tests on real loopback sockets and a real rt::EventLoop: accounting of reserve,
// release, discard and checkout; max_idle; the idle timer; stale detection at checkout.
// Thread contract: single-threaded; waits are bounded polls on kernel state, never sleeps.
#include "upstream/conn_pool.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::upstream {
namespace {

constexpr int kWaitMs = 5000;  // bound on every wait for the kernel or the loop

// A plain (blocking) fd the test owns: the upstream's end of a pooled connection.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// The pooled connection's socket (the tests use TCP streams).
int fd_of(const UpstreamConn& c) { return static_cast<const rt::TcpStream&>(*c.stream).fd(); }

// The upstream's listening socket on 127.0.0.1:0.
class Upstream {
 public:
  Upstream() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_.get(), 16) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      fd_.reset();
    }
    port_ = ntohs(a.sin_port);
  }
  bool ok() const { return fd_.get() >= 0; }

  // A connection the pool can hold (registered with `loop`), and the upstream's end of it.
  std::pair<std::unique_ptr<UpstreamConn>, Fd> connect(rt::EventLoop& loop) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    int r = ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    EXPECT_TRUE(r == 0 || errno == EINPROGRESS) << strerror(errno);
    Fd server(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));  // blocking: handshake done
    EXPECT_GE(server.get(), 0) << strerror(errno);
    auto s = rt::TcpStream::adopt(loop, c, *rt::SocketAddress::from_ip_port("127.0.0.1", port_));
    EXPECT_TRUE(s);
    auto conn = std::make_unique<UpstreamConn>();
    conn->stream = std::make_unique<rt::TcpStream>(std::move(*s));
    return {std::move(conn), std::move(server)};
  }

 private:
  Fd fd_;
  uint16_t port_ = 0;
};

// Waits (bounded) until `fd` has one of `events`; the kernel's view, not the loop's.
bool kernel_sees(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, kWaitMs) == 1 && (p.revents & events) != 0;
}

// The upstream's end: did the pool close the connection (within the bound)? EOF, or a reset
// when the pool's end still held unread bytes.
bool closed_by_pool(const Fd& server) {
  if (!kernel_sees(server.get(), POLLIN)) return false;
  char c;
  ssize_t n = ::recv(server.get(), &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// The upstream's end is still connected: nothing to read, no EOF.
bool still_open(const Fd& server) {
  char c;
  ssize_t n = ::recv(server.get(), &c, 1, MSG_DONTWAIT | MSG_PEEK);
  return n < 0 && errno == EAGAIN;
}

rt::Task<void> stop_after_one_turn(rt::EventLoop* loop) {
  // A timer fires only after the loop's next epoll_wait, which dispatches every event the
  // kernel has already queued; so on return the readiness cache has seen them all.
  co_await rt::sleep_for(*loop, 1);
  loop->stop();
}

// Runs the loop once: events the kernel already holds reach the sockets' readiness caches.
// An EventLoop cannot run again after stop(), so a test calls this at most once per loop.
void dispatch_pending_events(rt::EventLoop& loop) {
  rt::spawn(stop_after_one_turn(&loop));
  loop.run();
}

class ConnPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(up.ok()); }

  std::unique_ptr<ConnPool> make_pool(size_t max_connections, size_t max_idle,
                                      int64_t idle_timeout_ms = 60000) {
    return std::make_unique<ConnPool>(loop, PoolLimits{max_connections, max_idle, idle_timeout_ms},
                                      &stats);
  }
  // reserve() then connect, as the forwarder does for a fresh connection.
  std::pair<std::unique_ptr<UpstreamConn>, Fd> open(ConnPool& pool) {
    EXPECT_TRUE(pool.reserve());
    return up.connect(loop);
  }

  rt::EventLoop loop;
  ClusterStats stats;
  Upstream up;
};

TEST_F(ConnPoolTest, ReserveIsBoundedByMaxConnectionsAndCounted) {
  auto pool = make_pool(2, 2);
  EXPECT_TRUE(pool->reserve());
  EXPECT_TRUE(pool->reserve());
  EXPECT_FALSE(pool->reserve());
  EXPECT_FALSE(pool->reserve());
  EXPECT_EQ(pool->open(), 2u);
  EXPECT_EQ(stats.pool_exhausted.get(), 2u);
  EXPECT_EQ(stats.open_connections.get(), 2);
  pool->unreserve();  // a connect failed: the slot is free again
  EXPECT_EQ(pool->open(), 1u);
  EXPECT_EQ(stats.open_connections.get(), 1);
  EXPECT_TRUE(pool->reserve());
  EXPECT_EQ(stats.pool_exhausted.get(), 2u);
}

TEST_F(ConnPoolTest, ReleasedConnectionsAreReusedLastInFirstOut) {
  auto pool = make_pool(4, 4);
  EXPECT_EQ(pool->checkout(), nullptr);  // empty pool
  auto [a, a_srv] = open(*pool);
  auto [b, b_srv] = open(*pool);
  int a_fd = fd_of(*a), b_fd = fd_of(*b);
  pool->release(std::move(a));
  pool->release(std::move(b));
  EXPECT_EQ(pool->idle(), 2u);
  EXPECT_EQ(pool->open(), 2u);
  EXPECT_EQ(stats.idle_connections.get(), 2);

  auto first = pool->checkout();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(fd_of(*first), b_fd) << "the most recently released connection is the warmest";
  EXPECT_TRUE(first->reused);
  auto second = pool->checkout();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(fd_of(*second), a_fd);
  EXPECT_EQ(pool->checkout(), nullptr);
  EXPECT_EQ(stats.reuses.get(), 2u);
  EXPECT_EQ(stats.stale_closed.get(), 0u);
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(pool->open(), 2u) << "checked-out connections are still open";
  EXPECT_EQ(stats.idle_connections.get(), 0);
  EXPECT_TRUE(still_open(a_srv) && still_open(b_srv));
}

TEST_F(ConnPoolTest, DiscardClosesTheConnectionAndFreesItsSlot) {
  auto pool = make_pool(1, 1);
  auto [c, srv] = open(*pool);
  EXPECT_FALSE(pool->reserve());
  pool->discard(std::move(c));
  EXPECT_EQ(pool->open(), 0u);
  EXPECT_EQ(stats.open_connections.get(), 0);
  EXPECT_TRUE(closed_by_pool(srv));
  EXPECT_TRUE(pool->reserve());
}

TEST_F(ConnPoolTest, MaxIdleClosesTheExtraConnection) {
  auto pool = make_pool(8, 2);
  std::pair<std::unique_ptr<UpstreamConn>, Fd> conns[3] = {open(*pool), open(*pool), open(*pool)};
  for (auto& [c, srv] : conns) pool->release(std::move(c));
  EXPECT_EQ(pool->idle(), 2u);
  EXPECT_EQ(pool->open(), 2u);
  EXPECT_EQ(stats.idle_connections.get(), 2);
  EXPECT_EQ(stats.open_connections.get(), 2);
  EXPECT_TRUE(still_open(conns[0].second));
  EXPECT_TRUE(still_open(conns[1].second));
  EXPECT_TRUE(closed_by_pool(conns[2].second)) << "the third release is over max_idle";
  EXPECT_TRUE(pool->reserve()) << "the closed one no longer counts against max_connections";
}

TEST_F(ConnPoolTest, CloseIdleClosesEveryIdleConnection) {
  auto pool = make_pool(8, 8);
  auto [a, a_srv] = open(*pool);
  auto [b, b_srv] = open(*pool);
  auto [busy, busy_srv] = open(*pool);
  pool->release(std::move(a));
  pool->release(std::move(b));
  pool->close_idle();
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(pool->open(), 1u) << "the busy connection is still counted";
  EXPECT_EQ(stats.idle_connections.get(), 0);
  EXPECT_EQ(stats.open_connections.get(), 1);
  EXPECT_TRUE(closed_by_pool(a_srv));
  EXPECT_TRUE(closed_by_pool(b_srv));
  EXPECT_TRUE(still_open(busy_srv));
}

TEST_F(ConnPoolTest, PeerClosedBeforeReleaseIsNotPooled) {
  auto pool = make_pool(4, 4);
  auto [c, srv] = open(*pool);
  int fd = fd_of(*c);
  srv.reset();
  ASSERT_TRUE(kernel_sees(fd, POLLRDHUP));
  dispatch_pending_events(loop);
  pool->release(std::move(c));
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(pool->open(), 0u);
  EXPECT_EQ(stats.open_connections.get(), 0);
}

TEST_F(ConnPoolTest, StaleConnectionIsClosedAtCheckout) {
  auto pool = make_pool(4, 4);
  auto [live, live_srv] = open(*pool);
  auto [stale, stale_srv] = open(*pool);
  int live_fd = fd_of(*live);
  int stale_fd = fd_of(*stale);
  pool->release(std::move(live));
  pool->release(std::move(stale));  // on top: checked out first
  stale_srv.reset();                // the upstream closes it while it sits idle
  ASSERT_TRUE(kernel_sees(stale_fd, POLLRDHUP));
  dispatch_pending_events(loop);

  auto c = pool->checkout();
  ASSERT_NE(c, nullptr) << "the live connection under the stale one is still usable";
  EXPECT_EQ(fd_of(*c), live_fd);
  EXPECT_EQ(stats.stale_closed.get(), 1u);
  EXPECT_EQ(stats.reuses.get(), 1u);
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(pool->open(), 1u);
  EXPECT_EQ(stats.open_connections.get(), 1);
  EXPECT_EQ(stats.idle_connections.get(), 0);
  EXPECT_TRUE(still_open(live_srv));
}

TEST_F(ConnPoolTest, UnsolicitedBytesMakeAConnectionStale) {
  auto pool = make_pool(4, 4);
  auto [c, srv] = open(*pool);
  int fd = fd_of(*c);
  pool->release(std::move(c));
  // A response nobody asked for (or the start of an error page) means the connection's
  // framing can no longer be trusted.
  ASSERT_EQ(::send(srv.get(), "x", 1, MSG_NOSIGNAL), 1);
  ASSERT_TRUE(kernel_sees(fd, POLLIN));
  dispatch_pending_events(loop);
  EXPECT_EQ(pool->checkout(), nullptr);
  EXPECT_EQ(stats.stale_closed.get(), 1u);
  EXPECT_EQ(stats.reuses.get(), 0u);
  EXPECT_EQ(pool->open(), 0u);
  EXPECT_TRUE(closed_by_pool(srv));
}

TEST_F(ConnPoolTest, LiveIdleConnectionPassesTheStaleCheckAfterEvents) {
  // The loop has seen the connection's first events (writable): that is not staleness.
  auto pool = make_pool(4, 4);
  auto [c, srv] = open(*pool);
  pool->release(std::move(c));
  dispatch_pending_events(loop);
  auto again = pool->checkout();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(stats.stale_closed.get(), 0u);
  EXPECT_TRUE(still_open(srv));
}

// Waits on the loop for the upstream's end to see EOF (the pool's timer closed the pooled
// connection), then stops the loop. *out: "eof", "data" or the read error.
rt::Task<void> await_close(rt::EventLoop* loop, rt::TcpStream* upstream_end, std::string* out) {
  char buf[16];
  auto n = co_await upstream_end->read(buf, sizeof buf, loop->now_ms() + kWaitMs);
  *out = !n ? n.error().message() : *n == 0 ? "eof" : "data";
  loop->stop();
}

TEST_F(ConnPoolTest, IdleTimeoutClosesTheConnectionOnTheLoopTimer) {
  auto pool = make_pool(4, 4, /*idle_timeout_ms=*/20);
  auto [c, srv] = open(*pool);
  pool->release(std::move(c));
  EXPECT_EQ(pool->idle(), 1u);
  auto end = rt::TcpStream::adopt(loop, srv.release(), {});
  ASSERT_TRUE(end);
  std::string result;
  rt::spawn(await_close(&loop, &*end, &result));
  loop.run();
  EXPECT_EQ(result, "eof") << "the idle connection was not closed by its idle timer";
  EXPECT_EQ(stats.idle_expired.get(), 1u);
  EXPECT_EQ(pool->idle(), 0u);
  EXPECT_EQ(pool->open(), 0u);
  EXPECT_EQ(stats.idle_connections.get(), 0);
  EXPECT_EQ(stats.open_connections.get(), 0);
  EXPECT_EQ(stats.stale_closed.get(), 0u);
}

TEST_F(ConnPoolTest, ReusedConnectionIsTimedFromItsLastRelease) {
  // Checked out and released again: its timer is re-armed, and it expires exactly once.
  auto pool = make_pool(4, 4, /*idle_timeout_ms=*/20);
  auto [c, srv] = open(*pool);
  pool->release(std::move(c));
  auto again = pool->checkout();
  ASSERT_NE(again, nullptr);
  pool->release(std::move(again));
  auto end = rt::TcpStream::adopt(loop, srv.release(), {});
  ASSERT_TRUE(end);
  std::string result;
  rt::spawn(await_close(&loop, &*end, &result));
  loop.run();
  EXPECT_EQ(result, "eof");
  EXPECT_EQ(stats.idle_expired.get(), 1u);
  EXPECT_EQ(stats.reuses.get(), 1u);
  EXPECT_EQ(pool->open(), 0u);
}

TEST_F(ConnPoolTest, DestroyingThePoolClosesIdleConnectionsAndTheirTimers) {
  auto pool = make_pool(4, 4, /*idle_timeout_ms=*/20);
  auto [c, srv] = open(*pool);
  pool->release(std::move(c));
  pool.reset();
  EXPECT_TRUE(closed_by_pool(srv));
  EXPECT_EQ(loop.timers().size(), 0u) << "a destroyed pool left its idle timer armed";
  EXPECT_EQ(stats.open_connections.get(), 0);
  EXPECT_EQ(stats.idle_connections.get(), 0);
}

}  // namespace
}  // namespace cw::upstream
