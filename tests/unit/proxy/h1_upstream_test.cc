// The HTTP/1.1 upstream codec over a socketpair: the bytes it writes, the heads and bodies it
// reads, and when its connection may be reused.
#include "proxy/h1_upstream.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/h1/parser.h"
#include "proxy/request_headers.h"
#include "runtime/tcp.h"

namespace cw::proxy {
namespace {

// The transform keeps views of its ids: they must outlive it.
const std::string kTrace(32, 'a');
const std::string kSpan(16, 'b');

class H1UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    auto s = rt::TcpStream::adopt(loop_, fds[0], {});
    ASSERT_TRUE(s);
    stream_ = std::move(*s);
    peer_ = fds[1];
    req_.method = "GET";
    req_.target = "/p";
    req_.host = "h";
    req_.headers.add("Host", "h");
  }
  void TearDown() override {
    if (peer_ >= 0) ::close(peer_);
  }
  void upstream_sends(std::string_view bytes) {
    ASSERT_EQ(::write(peer_, bytes.data(), bytes.size()), ssize_t(bytes.size()));
  }
  std::string upstream_received() {
    std::string got;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(peer_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    return got;
  }
  // Runs a task on the loop until it finishes (bounded).
  template <class T>
  T run(rt::Task<T> t) {
    std::optional<T> out;
    rt::spawn(capture(std::move(t), &out));
    for (int i = 0; i < 100 && !out; ++i) loop_.run_once(10);
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : T(fail(std::errc::timed_out));
  }
  template <class T>
  static rt::Task<void> capture(rt::Task<T> t, std::optional<T>* out) {
    out->emplace(co_await std::move(t));
  }

  rt::EventLoop loop_;
  BufferPool buffers_;
  rt::TcpStream stream_;
  int peer_ = -1;
  http::RequestHead req_;
  ForwardedFor fwd_{"192.0.2.1", false, "http", "api"};
};

TEST_F(H1UpstreamTest, WritesHeadAndBodyInOneGoThenReadsAFramedResponse) {
  H1Upstream c(stream_, buffers_, "POST");
  req_.method = "POST";
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {http::BodyKind::kChunked, 0}, "abc", false, 0)));
  ASSERT_TRUE(run(c.send_body("de", true, 0)));
  std::string sent = upstream_received();
  EXPECT_EQ(sent.rfind("POST /p HTTP/1.1\r\nHost: h\r\n", 0), 0u) << sent;
  EXPECT_NE(sent.find("\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
            std::string::npos)
      << sent;

  upstream_sends("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel");
  http::ResponseHead resp;
  ASSERT_TRUE(run(c.read_head(resp, 0)));
  EXPECT_EQ(resp.status, 200) << "interim 100 is absorbed";
  EXPECT_TRUE(c.response_started());
  auto first = c.buffered_body();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->data, "hel");
  EXPECT_FALSE(first->end);
  EXPECT_FALSE(c.reusable());
  upstream_sends("lo");
  auto rest = run(c.read_body(0));
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->data, "lo");
  EXPECT_TRUE(rest->end);
  EXPECT_TRUE(c.reusable());
}

TEST_F(H1UpstreamTest, ChunksAlreadyBufferedComeAsOnePiece) {
  H1Upstream c(stream_, buffers_, "GET");
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  upstream_sends(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
  http::ResponseHead resp;
  ASSERT_TRUE(run(c.read_head(resp, 0)));
  auto p = c.buffered_body();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->data, "abcde");
  EXPECT_TRUE(p->end);
  EXPECT_TRUE(c.reusable());
}

TEST_F(H1UpstreamTest, ConnectionCloseOrExtraBytesMakeItNotReusable) {
  H1Upstream c(stream_, buffers_, "GET");
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  upstream_sends("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n");
  http::ResponseHead resp;
  ASSERT_TRUE(run(c.read_head(resp, 0)));
  auto p = c.buffered_body();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->end);
  EXPECT_FALSE(c.reusable()) << "bytes nobody asked for are still buffered";
}

TEST_F(H1UpstreamTest, BodyUntilCloseEndsAtEofAndIsNotReusable) {
  H1Upstream c(stream_, buffers_, "GET");
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  upstream_sends("HTTP/1.1 200 OK\r\n\r\nall of it");
  ::shutdown(peer_, SHUT_WR);
  http::ResponseHead resp;
  ASSERT_TRUE(run(c.read_head(resp, 0)));
  EXPECT_EQ(resp.body.kind, http::BodyKind::kUntilClose);
  std::string body(c.buffered_body()->data);
  for (int i = 0; i < 4; ++i) {
    auto p = run(c.read_body(0));
    ASSERT_TRUE(p);
    body += p->data;
    if (p->end) break;
  }
  EXPECT_EQ(body, "all of it");
  EXPECT_FALSE(c.reusable());
}

TEST_F(H1UpstreamTest, TruncatedBodyIsAReset) {
  H1Upstream c(stream_, buffers_, "GET");
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
  ::shutdown(peer_, SHUT_WR);
  http::ResponseHead resp;
  ASSERT_TRUE(run(c.read_head(resp, 0)));
  (void)c.buffered_body();
  auto p = run(c.read_body(0));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error(), std::errc::connection_reset);
}

TEST_F(H1UpstreamTest, CloseBeforeAnyByteIsNotAStartedResponse) {
  H1Upstream c(stream_, buffers_, "GET");
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  ::shutdown(peer_, SHUT_WR);
  http::ResponseHead resp;
  auto r = run(c.read_head(resp, 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::connection_reset);
  EXPECT_FALSE(c.response_started());
}

TEST_F(H1UpstreamTest, MalformedHeadIsBadMessage) {
  H1Upstream c(stream_, buffers_, "GET");
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  http::ResponseHead resp;
  auto r = run(c.read_head(resp, 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::bad_message);
  EXPECT_TRUE(c.response_started());
}

TEST_F(H1UpstreamTest, HeadResponseHasNoBody) {
  H1Upstream c(stream_, buffers_, "HEAD");
  req_.method = "HEAD";
  ForwardTransform t(req_, fwd_, "rid", kTrace, kSpan);
  ASSERT_TRUE(run(c.send_head(req_, t, {}, {}, true, 0)));
  upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  http::ResponseHead resp;
  ASSERT_TRUE(run(c.read_head(resp, 0)));
  auto p = c.buffered_body();
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->end);
  EXPECT_TRUE(c.reusable());
}

}  // namespace
}  // namespace cw::proxy
