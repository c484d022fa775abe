// The admin listener's bounds: at the connection limit the oldest idle connection makes room
// (and with nothing idle the new one is closed, counted); header-read and keep-alive idle
// timeouts end silent and idle connections; out of descriptors it still answers /healthz;
// many idle connections never keep /healthz from answering.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "fd_exhaustion.h"
#include "admin/admin_server.h"
#include "fixture.h"
#include "runtime/tcp.h"
#include "socket_client.h"

namespace cw::admin {
namespace {

using testing::Fixture;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::string_view kHealthz = "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n";

rt::SocketAddress listen_any(Fixture& f) {
  auto a = f.server->listen(*rt::SocketAddress::parse("127.0.0.1:0"));
  EXPECT_TRUE(a);
  return a ? *a : rt::SocketAddress{};
}

// A keep-alive client that asked once and now sits idle on the server.
struct Client {
  rt::TcpStream s;
  std::string buf;
  std::string first;
};

rt::Task<std::unique_ptr<Client>> idle_client(rt::EventLoop* loop, rt::SocketAddress addr) {
  auto c = std::make_unique<Client>();
  auto s = co_await rt::connect(*loop, addr, 1000);
  if (!s) co_return c;
  c->s = std::move(*s);
  (void)co_await c->s.write(kHealthz);
  c->first = co_await read_response(&c->s, loop, &c->buf);
  co_return c;
}

struct EvictResult {
  std::vector<std::string> first;  // each client's first answer
  std::string newcomer;            // the fourth client's answer
  std::string oldest_after;        // what the oldest idle client reads then
  std::string second_after;        // the second client still answers
  size_t open_at_limit = 0;
};

rt::Task<void> evict_oldest(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                            EvictResult* out) {
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(co_await idle_client(loop, addr));
    out->first.push_back(idle.back()->first);
  }
  out->open_at_limit = server->connections();
  auto newcomer = co_await idle_client(loop, addr);
  out->newcomer = newcomer->first;
  out->oldest_after = co_await read_to_eof(&idle[0]->s, loop);
  (void)co_await idle[1]->s.write(kHealthz);
  out->second_after = co_await read_response(&idle[1]->s, loop, &idle[1]->buf);
  co_await finish(loop, server);
}

TEST(AdminLimits, TheOldestIdleConnectionMakesRoomAtTheLimit) {
  Fixture f(testing::kYaml, 2, AdminLimits{.max_connections = 3});
  const rt::SocketAddress addr = listen_any(f);
  EvictResult r;
  rt::spawn(evict_oldest(&f.loop, addr, f.server.get(), &r));
  f.loop.run();
  ASSERT_EQ(r.first.size(), 3u);
  for (const auto& a : r.first) EXPECT_THAT(a, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(r.open_at_limit, 3u);
  EXPECT_THAT(r.newcomer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(r.oldest_after, "") << "the oldest idle connection is closed cleanly";
  EXPECT_THAT(r.second_after, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(f.server->counters().evicted.get(), 1u);
  EXPECT_EQ(f.server->counters().refused.get(), 0u);
}

struct RefuseResult {
  std::string refused;  // what the third client reads
  std::string busy_answer;
};

rt::Task<void> nothing_idle(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                            RefuseResult* out) {
  // Two connections in the middle of a request head: busy, not idle.
  std::vector<rt::TcpStream> busy;
  for (int i = 0; i < 2; ++i) {
    auto s = co_await rt::connect(*loop, addr, 1000);
    if (!s) co_return;
    (void)co_await s->write("GET /healthz HTTP/1.1\r\n");
    busy.push_back(std::move(*s));
  }
  for (int i = 0; i < 1000 && server->connections() < 2; ++i) co_await rt::sleep_for(*loop, 1);
  auto s = co_await rt::connect(*loop, addr, 1000);
  if (s) {
    (void)co_await s->write(kHealthz);
    out->refused = co_await read_to_eof(&*s, loop);
  }
  // The busy ones are still served.
  (void)co_await busy[0].write("Host: admin\r\n\r\n");
  std::string buf;
  out->busy_answer = co_await read_response(&busy[0], loop, &buf);
  co_await finish(loop, server);
}

TEST(AdminLimits, WithNothingIdleTheNewConnectionIsClosed) {
  Fixture f(testing::kYaml, 2, AdminLimits{.max_connections = 2});
  const rt::SocketAddress addr = listen_any(f);
  RefuseResult r;
  rt::spawn(nothing_idle(&f.loop, addr, f.server.get(), &r));
  f.loop.run();
  EXPECT_EQ(r.refused, "");
  EXPECT_THAT(r.busy_answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(f.server->counters().refused.get(), 1u);
  EXPECT_EQ(f.server->counters().evicted.get(), 0u);
}

struct TimeoutResult {
  std::string silent;  // a connection that never sends a byte
  std::string idle;    // a keep-alive connection after its answer
};

rt::Task<void> timeouts(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                        TimeoutResult* out) {
  auto silent = co_await rt::connect(*loop, addr, 1000);
  auto idle = co_await idle_client(loop, addr);
  if (silent) out->silent = co_await read_to_eof(&*silent, loop);
  out->idle = co_await read_to_eof(&idle->s, loop);
  co_await finish(loop, server);
}

TEST(AdminLimits, SilentAndIdleConnectionsTimeOut) {
  Fixture f(testing::kYaml, 2, AdminLimits{.header_read_timeout_ms = 50, .idle_timeout_ms = 50});
  const rt::SocketAddress addr = listen_any(f);
  TimeoutResult r;
  rt::spawn(timeouts(&f.loop, addr, f.server.get(), &r));
  f.loop.run();
  // Closed by the server (no "<error>": the client's own 5 s read deadline did not pass).
  EXPECT_EQ(r.silent, "");
  EXPECT_EQ(r.idle, "");
}

// Connects without turning the loop (so the server has not accepted yet): the handshake
// completes into the listener's backlog.
Result<rt::TcpStream> connect_now(rt::EventLoop& loop, const rt::SocketAddress& addr) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, addr.sa(), addr.len()) != 0) {
    if (fd >= 0) ::close(fd);
    return fail_errno(errno);
  }
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  return rt::TcpStream::adopt(loop, fd, addr);
}

rt::Task<void> at_the_fd_limit(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                               std::string* out) {
  // One request first: under UBSan, the first check of each type with a vtable needs a
  // descriptor of its own (a pipe), which the exhausted process would not have.
  (void)co_await idle_client(loop, addr);
  auto s = connect_now(*loop, addr);
  if (s) {
    cw::testing::FdExhaustion full;
    (void)co_await s->write(kHealthz);
    std::string buf;
    *out = co_await read_response(&*s, loop, &buf);
  }
  co_await finish(loop, server);
}

TEST(AdminLimits, AnswersHealthzOutOfDescriptors) {
  Fixture f;
  const rt::SocketAddress addr = listen_any(f);
  std::string answer;
  rt::spawn(at_the_fd_limit(&f.loop, addr, f.server.get(), &answer));
  f.loop.run();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(answer, HasSubstr("{\"status\":\"ok\"}"));
  EXPECT_EQ(f.server->counters().accept.errors[size_t(rt::AcceptError::kEmfile)].get(), 1u);
}

rt::Task<void> many_idle(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                         std::string* out) {
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(co_await idle_client(loop, addr));
  auto probe = co_await idle_client(loop, addr);
  *out = probe->first;
  co_await finish(loop, server);
}

TEST(AdminLimits, HealthzAnswersWhileHundredsOfConnectionsIdle) {
  Fixture f;
  const rt::SocketAddress addr = listen_any(f);
  std::string answer;
  rt::spawn(many_idle(&f.loop, addr, f.server.get(), &answer));
  f.loop.run();
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(f.server->counters().evicted.get(), 0u);
}

TEST(AdminLimits, MetricsShowTheAdminAndAcceptCounters) {
  Fixture f;
  const std::string m = f.get("/metrics").body;
  EXPECT_THAT(m, HasSubstr("causeway_accept_errors_total{reason=\"emfile\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_accept_errors_total{reason=\"enfile\"} 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_accept_shed_total 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_admin_connections_active 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_admin_connections_evicted_total 0\n"));
  EXPECT_THAT(m, HasSubstr("causeway_admin_connections_refused_total 0\n"));
}

}  // namespace
}  // namespace cw::admin
