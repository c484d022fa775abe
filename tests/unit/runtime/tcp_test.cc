// TCP on the event loop: accept/connect/read/write round trip, EOF, timeouts, refused connect.
#include "runtime/tcp.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::rt {
namespace {

Task<void> echo_once(TcpListener* l) {
  auto s = co_await l->accept();
  if (!s) co_return;
  char buf[256];
  for (;;) {
    auto n = co_await s->read(buf, sizeof buf);
    if (!n || *n == 0) break;
    auto w = co_await s->write(std::string_view(buf, *n));
    if (!w) break;
  }
}

Task<void> client(EventLoop* loop, SocketAddress addr, std::string* out) {
  auto s = co_await connect(*loop, addr, 1000);
  if (!s) {
    *out = "connect: " + s.error().message();
    loop->stop();
    co_return;
  }
  std::string big(1 << 20, 'x');  // larger than socket buffers: exercises partial writes
  auto w = co_await s->write(big);
  if (!w) *out = "write failed";
  s->shutdown_write();
  std::string got;
  char buf[65536];
  for (;;) {
    auto n = co_await s->read(buf, sizeof buf, loop->now_ms() + 5000);
    if (!n || *n == 0) break;
    got.append(buf, *n);
  }
  if (out->empty()) *out = got == big ? "ok" : "mismatch " + std::to_string(got.size());
  loop->stop();
}

TEST(Tcp, EchoRoundTripWithBackPressure) {
  EventLoop loop;
  auto l = TcpListener::bind(loop, *SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(l);
  std::string result;
  spawn(echo_once(&*l));
  spawn(client(&loop, l->local_address(), &result));
  loop.run();
  EXPECT_EQ(result, "ok");
}

Task<void> read_with_timeout(EventLoop* loop, SocketAddress addr, std::string* out) {
  auto s = co_await connect(*loop, addr, 1000);
  if (!s) co_return;
  char buf[16];
  auto n = co_await s->read(buf, sizeof buf, loop->now_ms() + 30);
  *out = n ? "data" : n.error().message();
  loop->stop();
}

Task<void> accept_and_hold(TcpListener* l, TcpStream* keep) {
  auto s = co_await l->accept();
  if (s) *keep = std::move(*s);
}

TEST(Tcp, ReadDeadlineTimesOut) {
  EventLoop loop;
  auto l = TcpListener::bind(loop, *SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(l);
  TcpStream held;
  std::string result;
  spawn(accept_and_hold(&*l, &held));
  spawn(read_with_timeout(&loop, l->local_address(), &result));
  loop.run();
  EXPECT_EQ(result, std::make_error_code(std::errc::timed_out).message());
}

Task<void> connect_refused(EventLoop* loop, SocketAddress addr, std::string* out) {
  auto s = co_await connect(*loop, addr, 1000);
  *out = s ? "connected" : s.error().message();
  loop->stop();
}

TEST(Tcp, ConnectRefusedIsAnError) {
  EventLoop loop;
  // Bind then close to get a port nobody listens on.
  SocketAddress addr;
  {
    auto l = TcpListener::bind(loop, *SocketAddress::parse("127.0.0.1:0"));
    ASSERT_TRUE(l);
    addr = l->local_address();
  }
  std::string result;
  spawn(connect_refused(&loop, addr, &result));
  loop.run();
  EXPECT_EQ(result, std::make_error_code(std::errc::connection_refused).message());
}

Task<void> wait_then_closed(TcpListener* l, std::string* out, EventLoop* loop) {
  auto s = co_await l->accept();
  *out = s ? "accepted" : "cancelled";
  loop->stop();
}

TEST(Tcp, ClosingListenerWakesAcceptor) {
  EventLoop loop;
  auto l = TcpListener::bind(loop, *SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(l);
  std::string result;
  spawn(wait_then_closed(&*l, &result, &loop));
  l->close();
  loop.run();
  EXPECT_EQ(result, "cancelled");
}

TEST(SocketAddress, ParsesV4AndV6) {
  auto a = SocketAddress::parse("127.0.0.2:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text(), "127.0.0.2:8080");
  auto b = SocketAddress::parse("[::1]:443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->text(), "[::1]:443");
  EXPECT_FALSE(SocketAddress::parse("::1:443"));
  EXPECT_FALSE(SocketAddress::parse("127.0.0.1:99999"));
  EXPECT_FALSE(SocketAddress::parse("nohost"));
}

}  // namespace
}  // namespace cw::rt
