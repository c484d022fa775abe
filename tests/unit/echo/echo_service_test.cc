// The echo service over real sockets: a server on 127.0.0.1:0 and plain blocking POSIX clients
// in the test thread (independent of our runtime). Every receive has a 5 s timeout, so a bug
// fails a test instead of hanging it.
#include "echo/echo_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace cw::echo {
namespace {

struct Response {
  int status = 0;
  std::string head;  // status line and fields, without the final CRLFCRLF
  std::string body;

  // Value of the first field called `name` (case-insensitive), or "" when absent.
  std::string header(std::string_view name) const {
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      const size_t start = pos + 2;
      const size_t end = head.find("\r\n", start);
      const std::string line = head.substr(start, end == std::string::npos ? end : end - start);
      const size_t colon = line.find(':');
      if (colon == name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        return line.substr(v);
      }
      pos = end;
    }
    return "";
  }
};

class Client {
 public:
  explicit Client(const rt::SocketAddress& addr) {
    fd_ = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connected_ = ::connect(fd_, addr.sa(), addr.len()) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(size_t(n));
    }
    return true;
  }

  // Reads one response; `head_request` when it answers a HEAD (no body whatever the length).
  // status 0 when the connection ended first.
  Response read_response(bool head_request = false) {
    Response r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return r;
    }
    r.head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (r.head.size() < 12) return r;
    r.status = std::stoi(r.head.substr(9, 3));
    const std::string cl = r.header("content-length");
    if (head_request || cl.empty() || r.status < 200) return r;
    const size_t len = std::stoul(cl);
    while (buf_.size() < len) {
      if (!fill()) {
        r.status = 0;
        return r;
      }
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return r;
  }

  // Reads exactly n bytes (after anything buffered); "" on EOF/error first.
  std::string read_exact(size_t n) {
    while (buf_.size() < n) {
      if (!fill()) return "";
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  // Reads until the peer closes. Returns the bytes; *reset tells whether it ended with an
  // error (ECONNRESET) rather than EOF. Fails the test on a 5 s timeout.
  std::string read_to_end(bool* reset = nullptr) {
    std::string out = std::move(buf_);
    buf_.clear();
    char tmp[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        out.append(tmp, size_t(n));
        continue;
      }
      if (n < 0) {
        EXPECT_NE(errno, EAGAIN) << "timed out waiting for the server to close";
        if (reset) *reset = true;
      }
      return out;
    }
  }

 private:
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, size_t(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::unique_ptr<EchoServer> start(EchoOptions o = {}) {
  o.listen = "127.0.0.1:0";
  if (o.seed == 0) o.seed = 42;
  std::string error;
  auto s = EchoServer::start(o, error);
  EXPECT_TRUE(s) << error;
  return s ? std::move(*s) : nullptr;
}

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

std::string expected_body(const EchoServer& s, std::string_view method, std::string_view path) {
  return "{\"service\":\"echo\",\"instance\":\"echo-" + std::to_string(s.address().port()) +
         "\",\"method\":\"" + std::string(method) + "\",\"path\":\"" + std::string(path) + "\"}\n";
}

TEST(EchoService, GetEchoesServiceInstanceMethodAndPathWithoutQuery) {
  auto s = start();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->instance(), "echo-" + std::to_string(s->address().port()));
  Client c(s->address());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/x?y=1")));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, expected_body(*s, "GET", "/x"));
}

TEST(EchoService, NameAndInstanceOptionsAppearInTheBody) {
  EchoOptions o;
  o.name = "api";
  o.instance = "api-\"7\"";
  auto s = start(o);
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/")));
  EXPECT_EQ(
      c.read_response().body,
      "{\"service\":\"api\",\"instance\":\"api-\\\"7\\\"\",\"method\":\"GET\",\"path\":\"/\"}\n");
}

TEST(EchoService, EchoHeadersListsRequestHeadersLowerCasedAndEscaped) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/h?a=b&echo_headers=1", "X-Test: a\"b\\c\r\nX-Dup: 1\r\nx-dup: 2\r\n")));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 200);
  const std::string prefix = "{\"service\":\"echo\",\"instance\":\"echo-" +
                             std::to_string(s->address().port()) +
                             "\",\"method\":\"GET\",\"path\":\"/h\",";
  EXPECT_EQ(r.body, prefix +
                        "\"headers\":{\"host\":\"t\",\"x-test\":\"a\\\"b\\\\c\","
                        "\"x-dup\":\"1, 2\"}}\n");
}

TEST(EchoService, HeadAnswersTheGetLengthWithoutABody) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send("HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n" + get("/after")));
  Response head = c.read_response(/*head_request=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(expected_body(*s, "HEAD", "/x").size()));
  // The next response starts right after the head: no body bytes were sent.
  Response after = c.read_response();
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, expected_body(*s, "GET", "/after"));
}

TEST(EchoService, PipelinedRequestsAreAnsweredInOrderOnOneConnection) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/a") + get("/b") + get("/c")));
  for (const char* path : {"/a", "/b", "/c"}) {
    Response r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, expected_body(*s, "GET", path));
  }
  // Still open for more.
  ASSERT_TRUE(c.send(get("/d")));
  EXPECT_EQ(c.read_response().body, expected_body(*s, "GET", "/d"));
  EXPECT_EQ(s->stats().requests, 4u);
}

TEST(EchoService, ContentLengthAndChunkedBodiesAreCounted) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  Response r1 = c.read_response();
  EXPECT_EQ(r1.status, 200);
  EXPECT_NE(r1.body.find("\"method\":\"POST\",\"path\":\"/up\",\"body_bytes\":5}"),
            std::string::npos)
      << r1.body;
  ASSERT_TRUE(
      c.send("PUT /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"));
  Response r2 = c.read_response();
  EXPECT_EQ(r2.status, 200);
  EXPECT_NE(r2.body.find("\"body_bytes\":8}"), std::string::npos) << r2.body;
}

TEST(EchoService, LargeUploadIsReadWithBackPressure) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  const size_t n = 8 << 20;
  ASSERT_TRUE(
      c.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n"));
  ASSERT_TRUE(c.send(std::string(n, 'u')));
  ASSERT_TRUE(c.send(get("/next")));  // pipelined right behind the body
  Response r = c.read_response();
  EXPECT_NE(r.body.find("\"body_bytes\":" + std::to_string(n) + "}"), std::string::npos);
  EXPECT_EQ(c.read_response().body, expected_body(*s, "GET", "/next"));
}

TEST(EchoService, MalformedChunkedBodyIs400AndClose) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("connection"), "close");
  EXPECT_EQ(c.read_to_end(), "");
}

TEST(EchoService, ExpectContinueGets100BeforeTheBody) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(
      c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
             "Expect: 100-continue\r\n\r\n"));
  Response cont = c.read_response();
  EXPECT_EQ(cont.status, 100);
  ASSERT_TRUE(c.send("data"));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"body_bytes\":4}"), std::string::npos);
}

TEST(EchoService, StatusKnob) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/t?status=418")));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 418);
  EXPECT_EQ(r.body, expected_body(*s, "GET", "/t"));
  ASSERT_TRUE(c.send(get("/t?status=204")));
  Response empty = c.read_response();
  EXPECT_EQ(empty.status, 204);
  EXPECT_EQ(empty.header("content-length"), "");
  ASSERT_TRUE(c.send(get("/t?status=99")));  // a bad knob is a 400 that keeps the connection
  Response bad = c.read_response();
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("bad_query"), std::string::npos);
  ASSERT_TRUE(c.send(get("/t?delay=1ms")));
  EXPECT_EQ(c.read_response().status, 200);
}

TEST(EchoService, SizeKnobGivesExactLengthsSmallAndStreamed) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  for (size_t n : {size_t(0), size_t(10), size_t(1000), size_t(100000), size_t(3 << 20)}) {
    ASSERT_TRUE(c.send(get("/d?size=" + std::to_string(n))));
    Response r = c.read_response();
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.size(), n);
    if (n >= 1000) {
      EXPECT_EQ(r.body.substr(0, 11), "{\"service\":");
      EXPECT_EQ(r.body.back(), '\n');
      EXPECT_EQ(r.body[n - 2], ' ');
    }
  }
  ASSERT_TRUE(c.send(get("/d?size=2GiB")));
  EXPECT_EQ(c.read_response().status, 400);
}

TEST(EchoService, HealthzIsExemptFromFaultsAndFollowsSetHealthy) {
  EchoOptions o;
  o.error_rate = 1;
  auto s = start(o);
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/healthz")));
  Response ok = c.read_response();
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "{\"status\":\"ok\"}\n");
  s->set_healthy(false);
  ASSERT_TRUE(c.send(get("/healthz")));
  EXPECT_EQ(c.read_response().status, 503);
}

TEST(EchoService, ErrorRateOneAnswers503Injected) {
  EchoOptions o;
  o.error_rate = 1;
  auto s = start(o);
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/x") + get("/y")));
  for (int i = 0; i < 2; ++i) {
    Response r = c.read_response();
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, "{\"service\":\"echo\",\"instance\":\"" + s->instance() +
                          "\",\"error\":\"injected\"}\n");
  }
  EXPECT_EQ(s->stats().injected_errors, 2u);
}

TEST(EchoService, ResetRateOneClosesWithoutAnswering) {
  EchoOptions o;
  o.reset_rate = 1;
  auto s = start(o);
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/x")));
  bool reset = false;
  EXPECT_EQ(c.read_to_end(&reset), "");
  EXPECT_TRUE(reset);  // RST, not FIN
}

TEST(EchoService, HangRateOneNeverAnswersAndStopReleasesTheConnection) {
  EchoOptions o;
  o.hang_rate = 1;
  auto s = start(o);
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/x")));
  // No answer arrives; the 5 s receive timeout would fail read_to_end, so stop first.
  timeval tv{0, 100'000};
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b;
  EXPECT_EQ(::recv(c.fd(), &b, 1, 0), -1);
  s->stop();
  s->wait();
  tv = {5, 0};
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_EQ(c.read_to_end(), "");
}

TEST(EchoService, StopWakesARequestSleepingInLatency) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  // Both heads arrive together; /a's answer is written just before /slow starts sleeping, so
  // once it is here the sleep has begun.
  ASSERT_TRUE(c.send(get("/a") + get("/slow?delay=10m")));
  EXPECT_EQ(c.read_response().status, 200);
  s->stop();
  s->wait();  // returns although the request had ten minutes to sleep
  EXPECT_EQ(c.read_to_end(), "");
}

TEST(EchoService, RefusesAMalformedLatency) {
  EchoOptions o;
  o.latency = "fast";
  auto err = check_echo_options(o);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "--latency: expected 20ms, 10ms-50ms or exp:20ms (at most 10m), got \"fast\"");
}

TEST(EchoService, OptionValidationNamesTheFlag) {
  EXPECT_FALSE(check_echo_options(EchoOptions{}));
  auto check = [](void (*edit)(EchoOptions&)) {
    EchoOptions o;
    edit(o);
    return check_echo_options(o).value_or("");
  };
  EXPECT_EQ(check([](EchoOptions& o) { o.listen = "nohost"; }).rfind("--listen:", 0), 0u);
  EXPECT_EQ(check([](EchoOptions& o) { o.name = ""; }).rfind("--name:", 0), 0u);
  EXPECT_EQ(check([](EchoOptions& o) { o.error_rate = 1.5; }).rfind("--error-rate:", 0), 0u);
  EXPECT_EQ(check([](EchoOptions& o) { o.reset_rate = -0.1; }).rfind("--reset-rate:", 0), 0u);
  EXPECT_EQ(check([](EchoOptions& o) { o.hang_rate = 0.0 / 0.0; }).rfind("--hang-rate:", 0), 0u);
  EXPECT_NE(check([](EchoOptions& o) { o.error_rate = o.reset_rate = 0.6; }).find("exceed 1"),
            std::string::npos);
  EXPECT_EQ(check([](EchoOptions& o) {
              o.error_rate = 0.1;
              o.reset_rate = 0.2;
              o.hang_rate = 0.7;
            }),
            "");
  EXPECT_EQ(check([](EchoOptions& o) { o.workers = 0; }).rfind("--workers:", 0), 0u);

  std::string error;
  EchoOptions bad;
  bad.latency = "soon";
  EXPECT_FALSE(EchoServer::start(bad, error));
  EXPECT_EQ(error.rfind("--latency:", 0), 0u);
}

TEST(EchoService, AddressInUseIsAClearError) {
  auto s = start();
  ASSERT_TRUE(s);
  EchoOptions o;
  o.listen = s->address().text();
  std::string error;
  EXPECT_FALSE(EchoServer::start(o, error));
  EXPECT_NE(error.find(o.listen), std::string::npos) << error;
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
}

TEST(EchoService, IdleKeepAliveConnectionIsClosedAfterTheTimeout) {
  EchoOptions o;
  o.keepalive_timeout_ms = 200;
  auto s = start(o);
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/once")));
  EXPECT_EQ(c.read_response().status, 200);
  bool reset = false;
  EXPECT_EQ(c.read_to_end(&reset), "");  // within the 5 s receive timeout
  EXPECT_FALSE(reset);
}

TEST(EchoService, Http10AndConnectionClose) {
  auto s = start();
  ASSERT_TRUE(s);
  {
    Client c(s->address());
    ASSERT_TRUE(c.send("GET /old HTTP/1.0\r\n\r\n"));
    Response r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, expected_body(*s, "GET", "/old"));
    EXPECT_EQ(c.read_to_end(), "");
  }
  {
    Client c(s->address());
    ASSERT_TRUE(c.send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
                       std::string("GET /ka2 HTTP/1.0\r\n\r\n")));
    Response r = c.read_response();
    EXPECT_EQ(r.header("connection"), "keep-alive");
    EXPECT_EQ(c.read_response().body, expected_body(*s, "GET", "/ka2"));
    EXPECT_EQ(c.read_to_end(), "");
  }
  {
    Client c(s->address());
    ASSERT_TRUE(c.send(get("/bye", "Connection: close\r\n") + get("/never")));
    Response r = c.read_response();
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_EQ(c.read_to_end(), "");  // the pipelined request after it is not answered
  }
}

TEST(EchoService, MalformedRequestIs400AndClose) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send("GARBAGE\r\n\r\n"));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("\"error\":\"bad_request\""), std::string::npos);
  EXPECT_EQ(c.read_to_end(), "");
  Client c2(s->address());
  ASSERT_TRUE(c2.send("GET / HTTP/1.1\r\n\r\n"));  // no Host
  EXPECT_EQ(c2.read_response().status, 400);
  EXPECT_EQ(s->stats().bad_requests, 2u);
}

std::string masked_frame(uint8_t b0, std::string_view payload) {
  const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::string f;
  f += char(b0);
  if (payload.size() < 126) {
    f += char(0x80 | payload.size());
  } else {
    f += char(0x80 | 126);
    f += char(payload.size() >> 8);
    f += char(payload.size() & 0xff);
  }
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) f += char(payload[i] ^ mask[i % 4]);
  return f;
}

TEST(EchoService, WebSocketHandshakeAndEcho) {
  auto s = start();
  ASSERT_TRUE(s);
  Client c(s->address());
  ASSERT_TRUE(c.send(get("/ws",
                         "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")));
  Response r = c.read_response();
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.header("upgrade"), "websocket");
  EXPECT_EQ(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455

  // RFC 6455 5.7: a masked "Hello" text frame comes back unmasked.
  ASSERT_TRUE(c.send("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"));
  EXPECT_EQ(c.read_exact(7), "\x81\x05Hello");

  const std::string big(300, 'b');  // 16-bit length
  ASSERT_TRUE(c.send(masked_frame(0x82, big)));
  EXPECT_EQ(c.read_exact(4 + big.size()), std::string("\x82\x7e\x01\x2c", 4) + big);

  ASSERT_TRUE(c.send(masked_frame(0x89, "pi")));  // ping -> pong
  EXPECT_EQ(c.read_exact(4), "\x8a\x02pi");

  ASSERT_TRUE(c.send(masked_frame(0x88, std::string("\x03\xe8", 2))));  // close 1000
  EXPECT_EQ(c.read_exact(4), std::string("\x88\x02\x03\xe8", 4));
  EXPECT_EQ(c.read_to_end(), "");
  EXPECT_EQ(s->stats().websockets, 1u);
}

TEST(EchoService, SeveralWorkersShareThePort) {
  EchoOptions o;
  o.workers = 3;
  auto s = start(o);
  ASSERT_TRUE(s);
  for (int i = 0; i < 12; ++i) {
    Client c(s->address());
    ASSERT_TRUE(c.send(get("/w")));
    EXPECT_EQ(c.read_response().body, expected_body(*s, "GET", "/w"));
  }
  EXPECT_EQ(s->stats().connections, 12u);
}

}  // namespace
}  // namespace cw::echo
