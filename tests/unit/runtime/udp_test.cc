// UdpSocket: batched receive and send on loopback, readiness after a drained queue, close.
#include "runtime/udp.h"

#include <cstring>
#include <memory>

#include <gtest/gtest.h>

#include "runtime/task.h"

namespace cw::rt {
namespace {

SocketAddress loopback0() { return *SocketAddress::from_ip_port("127.0.0.1", 0); }

TEST(Udp, BatchesInAndOut) {
  EventLoop loop;
  auto a_fd = open_udp_socket(loopback0());
  auto b_fd = open_udp_socket(loopback0());
  ASSERT_TRUE(a_fd && b_fd);
  auto a = UdpSocket::adopt(loop, std::move(*a_fd));
  auto b = UdpSocket::adopt(loop, std::move(*b_fd));
  ASSERT_TRUE(a && b);
  const SocketAddress to = a->local_address();
  ASSERT_NE(to.port(), 0);

  // 40 datagrams: more than one batch.
  std::vector<std::string> payloads;
  for (int i = 0; i < 40; ++i) payloads.push_back("msg-" + std::to_string(i));
  UdpOutBatch out;
  sockaddr_storage ss{};
  std::memcpy(&ss, to.sa(), to.len());
  int sent = 0;
  for (const auto& p : payloads) {
    if (!out.add(p, ss, to.len())) {
      sent += b->send(out);
      ASSERT_TRUE(out.add(p, ss, to.len()));
    }
  }
  sent += b->send(out);
  EXPECT_EQ(sent, 40);
  EXPECT_EQ(b->counters().sent, 40u);

  auto in = std::make_unique<UdpInBatch>();
  std::vector<std::string> got;
  for (int spin = 0; spin < 100 && got.size() < 40; ++spin) {
    loop.run_once(10);
    auto n = a->receive(*in);
    ASSERT_TRUE(n.has_value());
    for (int i = 0; i < *n; ++i) {
      got.emplace_back(in->data(i));
      EXPECT_FALSE(in->truncated(i));
      EXPECT_EQ(SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&in->peer(i)),
                                             in->peer_len(i)).port(),
                b->local_address().port());
    }
  }
  EXPECT_EQ(got, payloads);
  auto none = a->receive(*in);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(*none, 0);  // drained: wait for readable() again
}

Task<void> wait_then_flag(UdpSocket* s, int* state) {
  auto r = co_await s->readable();
  *state = r ? 1 : 2;
}

TEST(Udp, ReadableWakesOnDataAndCloseFailsTheWait) {
  EventLoop loop;
  auto a = UdpSocket::adopt(loop, std::move(*open_udp_socket(loopback0())));
  auto b = UdpSocket::adopt(loop, std::move(*open_udp_socket(loopback0())));
  ASSERT_TRUE(a && b);
  auto in = std::make_unique<UdpInBatch>();
  ASSERT_EQ(*a->receive(*in), 0);
  int state = 0;
  spawn(wait_then_flag(&*a, &state));
  loop.run_once(0);
  EXPECT_EQ(state, 0);
  UdpOutBatch out;
  sockaddr_storage ss{};
  const SocketAddress to = a->local_address();
  std::memcpy(&ss, to.sa(), to.len());
  out.add("x", ss, to.len());
  b->send(out);
  for (int spin = 0; spin < 100 && state == 0; ++spin) loop.run_once(10);
  EXPECT_EQ(state, 1);

  ASSERT_EQ(*a->receive(*in), 1);
  int closed = 0;
  spawn(wait_then_flag(&*a, &closed));
  a->close();
  for (int spin = 0; spin < 10 && closed == 0; ++spin) loop.run_once(0);
  EXPECT_EQ(closed, 2);
  EXPECT_FALSE(a->is_open());
}

}  // namespace
}  // namespace cw::rt
