// The admin listener over real sockets: request/response bytes, keep-alive with pipelining,
// HEAD, bodies, refusals (400 malformed, 411 chunked) that close, and close() waking clients.
#include "admin/admin_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fixture.h"
#include "runtime/tcp.h"
#include "socket_client.h"

namespace cw::admin {
namespace {

using testing::Fixture;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Results {
  std::string healthz;
  std::string pipelined_head;
  std::string pipelined_404;
  std::string reload;
  std::string malformed;
  std::string chunked;
  std::string after_close;
  size_t open_before_close = 0;
};

rt::Task<void> client(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                      Results* out) {
  {
    auto s = co_await rt::connect(*loop, addr, 1000);
    if (!s) {
      co_await finish(loop, server);
      co_return;
    }
    std::string buf;
    (void)co_await s->write("GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n");
    out->healthz = co_await read_response(&*s, loop, &buf);
    // Two requests in one write; HEAD has no body but the same Content-Length.
    (void)co_await s->write(
        "HEAD /healthz HTTP/1.1\r\nHost: admin\r\n\r\nGET /nope HTTP/1.1\r\nHost: admin\r\n\r\n");
    // HEAD: the head only; read exactly it.
    {
      const int64_t deadline = loop->now_ms() + 5000;
      char tmp[4096];
      while (buf.find("\r\n\r\n") == std::string::npos) {
        auto n = co_await s->read(tmp, sizeof tmp, deadline);
        if (!n || *n == 0) break;
        buf.append(tmp, *n);
      }
      const size_t end = buf.find("\r\n\r\n");
      if (end != std::string::npos) {
        out->pipelined_head = buf.substr(0, end + 4);
        buf.erase(0, end + 4);
      }
    }
    out->pipelined_404 = co_await read_response(&*s, loop, &buf);
    // A body with Expect: 100-continue.
    (void)co_await s->write(
        "POST /api/v1/reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 2\r\n"
        "Expect: 100-continue\r\n\r\n");
    std::string cont = co_await read_response(&*s, loop, &buf);  // "100 Continue" head
    if (cont.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) != 0) out->reload = "no 100: " + cont;
    (void)co_await s->write("{}");
    if (out->reload.empty()) out->reload = co_await read_response(&*s, loop, &buf);
  }
  {
    auto s = co_await rt::connect(*loop, addr, 1000);
    if (s) {
      (void)co_await s->write("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
      out->malformed = co_await read_to_eof(&*s, loop);
    }
  }
  {
    auto s = co_await rt::connect(*loop, addr, 1000);
    if (s) {
      (void)co_await s->write(
          "POST /api/v1/reload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "2\r\n{}\r\n0\r\n\r\n");
      out->chunked = co_await read_to_eof(&*s, loop);
    }
  }
  {
    // An idle keep-alive connection is ended by close().
    auto s = co_await rt::connect(*loop, addr, 1000);
    if (s) {
      std::string buf;
      (void)co_await s->write("GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n");
      (void)co_await read_response(&*s, loop, &buf);
      out->open_before_close = server->connections();
      server->close();
      out->after_close = co_await read_to_eof(&*s, loop);
    }
  }
  co_await finish(loop, server);
}

TEST(AdminServer, ServesHttpOverSockets) {
  Fixture f;
  auto addr = f.server->listen(*rt::SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(addr);
  EXPECT_NE(addr->port(), 0);
  EXPECT_FALSE(f.server->listen(*rt::SocketAddress::parse("127.0.0.1:0")));  // once only
  f.next_yaml = std::string(testing::kYaml);
  Results r;
  rt::spawn(client(&f.loop, *addr, f.server.get(), &r));
  f.loop.run();

  EXPECT_EQ(r.healthz,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
            "Cache-Control: no-store\r\n\r\n{\"status\":\"ok\"}\n");
  EXPECT_EQ(r.pipelined_head,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
            "Cache-Control: no-store\r\n\r\n");
  EXPECT_THAT(r.pipelined_404, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(r.pipelined_404, HasSubstr("\r\n\r\n{\"error\":\"not_found\",\"path\":\"/nope\"}\n"));
  EXPECT_THAT(r.reload, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.reload, HasSubstr("{\"status\":\"reloaded\",\"generation\":2}"));

  EXPECT_THAT(r.malformed, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
  EXPECT_THAT(r.malformed, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(r.malformed, HasSubstr("\r\n\r\n{\"error\":\"bad_request\",\"detail\":"));
  EXPECT_THAT(r.malformed, Not(HasSubstr("<error>")));

  EXPECT_THAT(r.chunked, StartsWith("HTTP/1.1 411 Length Required\r\n"));
  EXPECT_THAT(r.chunked, HasSubstr("{\"error\":\"length_required\""));
  EXPECT_THAT(r.chunked, Not(HasSubstr("<error>")));

  EXPECT_EQ(r.open_before_close, 1u);
  EXPECT_EQ(r.after_close, "");  // closed, no bytes, no timeout
}

rt::Task<void> slow_client(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                           std::string* out) {
  auto s = co_await rt::connect(*loop, addr, 1000);
  if (s) {
    // An oversized head is refused with 431 even though it never completes.
    std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70 * 1024, 'x');
    (void)co_await s->write(big);
    *out = co_await read_to_eof(&*s, loop);
  }
  co_await finish(loop, server);
}

TEST(AdminServer, OversizedHeadIs431) {
  Fixture f;
  auto addr = f.server->listen(*rt::SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(addr);
  std::string out;
  rt::spawn(slow_client(&f.loop, *addr, f.server.get(), &out));
  f.loop.run();
  EXPECT_THAT(out, StartsWith("HTTP/1.1 431 "));
  EXPECT_THAT(out, HasSubstr("{\"error\":\"headers_too_large\""));
}

}  // namespace
}  // namespace cw::admin

namespace cw::admin {
namespace {

rt::Task<void> send_each(rt::EventLoop* loop, rt::SocketAddress addr, AdminServer* server,
                         std::vector<std::string> inputs, std::vector<std::string>* out) {
  for (const std::string& in : inputs) {
    auto s = co_await rt::connect(*loop, addr, 1000);
    if (!s) {
      out->push_back("connect failed");
      continue;
    }
    (void)co_await s->write(in);
    out->push_back(co_await read_to_eof(&*s, loop));
  }
  co_await finish(loop, server);
}

TEST(AdminServer, BadInputGetsAJsonErrorAndAClose) {
  Fixture f;
  auto addr = f.server->listen(*rt::SocketAddress::parse("127.0.0.1:0"));
  ASSERT_TRUE(addr);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("\x00\x01\x02garbage\r\n\r\n", 14), "HTTP/1.1 400 "},
      {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},  // no Host
      {"GET / HTTP/9.9\r\nHost: a\r\n\r\n", "HTTP/1.1 505 "},
      {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
       "HTTP/1.1 400 "},
      {"POST /api/v1/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
       "HTTP/1.1 413 "},
      {"GET /healthz HTTP/1.0\r\n\r\n", "HTTP/1.1 200 "},  // 1.0: answered, then closed
  };
  std::vector<std::string> inputs;
  inputs.reserve(cases.size());
  for (const auto& c : cases) inputs.push_back(c.first);
  std::vector<std::string> got;
  rt::spawn(send_each(&f.loop, *addr, f.server.get(), inputs, &got));
  f.loop.run();
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_THAT(got[i], StartsWith(cases[i].second)) << i;
    EXPECT_THAT(got[i], Not(HasSubstr("<error>"))) << i;
    const size_t body = got[i].find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << i;
    EXPECT_TRUE(nlohmann::json::accept(got[i].substr(body + 4))) << got[i];
  }
  EXPECT_THAT(got.back(), HasSubstr("Connection: close\r\n"));
}

}  // namespace
}  // namespace cw::admin
