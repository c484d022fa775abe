// One health check against a real loopback listener: HTTP statuses, a bad response, a silent
// host (timeout), a refused connect, and a TCP check.
#include "health/check.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::health {
namespace {

using config::HealthCheck;

// Both coroutines of a test count down; the last stops the loop, so neither is left
// suspended (and leaked) when the test ends.
struct Pending {
  rt::EventLoop* loop;
  int left;
  void done() {
    if (--left == 0) loop->stop();
  }
};

constexpr std::string_view kCloseAtOnce = "<close>";

// Accepts one connection, reads the request head into *seen, answers `reply` (none when
// empty: stays silent until the client goes; kCloseAtOnce: closes without answering).
rt::Task<void> serve_once(rt::TcpListener* l, std::string reply, std::string* seen,
                          Pending* pending) {
  auto s = co_await l->accept();
  char buf[1024];
  while (s && seen->find("\r\n\r\n") == std::string::npos) {
    auto n = co_await s->read(buf, sizeof buf);
    if (!n || *n == 0) break;
    seen->append(buf, *n);
  }
  if (s && reply.empty()) {
    (void)co_await s->read(buf, sizeof buf);  // until the checker gives up and closes
  } else if (s && reply != kCloseAtOnce) {
    (void)co_await s->write(reply);
  }
  pending->done();
}

rt::Task<void> check(rt::EventLoop* loop, HealthCheck cfg, rt::SocketAddress addr,
                     CheckResult* out, Pending* pending) {
  rt::TcpStream conn;
  bool cancelled = false;
  *out = co_await run_check(*loop, cfg, addr, check_request(cfg.http_path, "example.test"), conn,
                            cancelled);
  pending->done();
}

HealthCheck http_check(int timeout_ms = 1000) {
  HealthCheck c;
  c.kind = HealthCheck::Kind::kHttp;
  c.http_path = "/healthz";
  c.timeout = config::Duration(timeout_ms);
  return c;
}

struct Outcome {
  CheckResult result;
  std::string seen;
};

Outcome run(HealthCheck cfg, std::string reply) {
  rt::EventLoop loop;
  auto l = rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0"));
  EXPECT_TRUE(l);
  Outcome r;
  Pending pending{&loop, 2};
  rt::spawn(serve_once(&*l, std::move(reply), &r.seen, &pending));
  rt::spawn(check(&loop, cfg, l->local_address(), &r.result, &pending));
  loop.run();
  l->close();
  loop.run_deferred();
  return r;
}

TEST(HealthCheck, HttpOkSendsAProperRequest) {
  Outcome r = run(http_check(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(r.result.ok) << r.result.error;
  EXPECT_EQ(r.result.status, 200);
  EXPECT_EQ(r.seen,
            "GET /healthz HTTP/1.1\r\nHost: example.test\r\nUser-Agent: causeway-health-check\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n");
}

TEST(HealthCheck, InterimResponsesAreSkipped) {
  Outcome r = run(http_check(), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_TRUE(r.result.ok) << r.result.error;
  EXPECT_EQ(r.result.status, 204);
}

TEST(HealthCheck, UnexpectedStatusFails) {
  Outcome r = run(http_check(), "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(r.result.ok);
  EXPECT_EQ(r.result.status, 503);
  EXPECT_EQ(r.result.error, "status 503");
}

TEST(HealthCheck, ExpectedStatusesAreConfigurable) {
  HealthCheck c = http_check();
  c.expected_statuses = {{200, 200}, {500, 503}};
  EXPECT_TRUE(run(c, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").result.ok);
  EXPECT_FALSE(run(c, "HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n").result.ok);
}

TEST(HealthCheck, MalformedResponseFails) {
  Outcome r = run(http_check(), "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  EXPECT_FALSE(r.result.ok);
  EXPECT_EQ(r.result.error.rfind("bad response: ", 0), 0u) << r.result.error;
}

TEST(HealthCheck, CloseBeforeAResponseFails) {
  Outcome r = run(http_check(), std::string(kCloseAtOnce));
  EXPECT_FALSE(r.result.ok);
  EXPECT_EQ(r.result.error.rfind("read: ", 0), 0u) << r.result.error;
}

TEST(HealthCheck, SilentHostTimesOut) {
  Outcome r = run(http_check(50), std::string());
  EXPECT_FALSE(r.result.ok);
  EXPECT_EQ(r.result.error, "read: timeout");
  EXPECT_GE(r.result.duration_ms, 45);
}

TEST(HealthCheck, RefusedConnectFails) {
  rt::EventLoop loop;
  rt::SocketAddress addr;
  {
    auto l = rt::TcpListener::bind(loop, *rt::SocketAddress::parse("127.0.0.1:0"));
    ASSERT_TRUE(l);
    addr = l->local_address();
  }  // closed: nothing listens there now
  CheckResult r;
  Pending pending{&loop, 1};
  rt::spawn(check(&loop, http_check(), addr, &r, &pending));
  loop.run();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "connect: " + std::make_error_code(std::errc::connection_refused).message());
}

TEST(HealthCheck, TcpCheckPassesOnConnectAlone) {
  HealthCheck c;  // kTcp
  c.timeout = config::Duration(200);
  // The listener never answers: an HTTP check would time out, a TCP check passes.
  Outcome r = run(c, std::string());
  EXPECT_EQ(r.seen, "");  // nothing was sent
  EXPECT_TRUE(r.result.ok) << r.result.error;
  EXPECT_EQ(r.result.status, 0);
}

TEST(HealthCheck, StatusRanges) {
  const std::vector<HealthCheck::StatusRange> ranges{{200, 299}, {404, 404}};
  EXPECT_TRUE(status_expected(ranges, 200));
  EXPECT_TRUE(status_expected(ranges, 299));
  EXPECT_TRUE(status_expected(ranges, 404));
  EXPECT_FALSE(status_expected(ranges, 300));
  EXPECT_FALSE(status_expected(ranges, 199));
  EXPECT_TRUE(status_expected(HealthCheck{}.expected_statuses, 302));  // default 200-399
  EXPECT_FALSE(status_expected(HealthCheck{}.expected_statuses, 404));
}

}  // namespace
}  // namespace cw::health
