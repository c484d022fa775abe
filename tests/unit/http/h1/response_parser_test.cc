// Response head parser: framing by status and request method, keep-alive, refusals (502).
#include <gtest/gtest.h>

#include <string>

#include "http/h1/parser.h"

namespace cw::http::h1 {
namespace {

ParseResult parse_resp(std::string_view data, ResponseHead& out, std::string_view method = "GET",
                       ParseLimits limits = {}) {
  return parse_response_head(data, limits, method, out);
}

int resp_error(std::string_view data, std::string_view method = "GET") {
  ResponseHead h;
  ParseResult r = parse_resp(data, h, method);
  return r.status == ParseStatus::kError ? r.error_status : 0;
}

TEST(ParseResponse, ContentLength) {
  ResponseHead h;
  std::string_view resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
  ParseResult r = parse_resp(resp, h);
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error_reason;
  EXPECT_EQ(r.consumed, resp.size() - 5);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_EQ(h.body.kind, BodyKind::kContentLength);
  EXPECT_EQ(h.body.length, 5u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.headers.size(), 2u);
}

TEST(ParseResponse, Chunked) {
  ResponseHead h;
  ASSERT_EQ(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(h.body.kind, BodyKind::kChunked);
  EXPECT_TRUE(h.keep_alive);
}

TEST(ParseResponse, UntilCloseWithoutFraming) {
  ResponseHead h;
  ASSERT_EQ(parse_resp("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(h.body.kind, BodyKind::kUntilClose);
  EXPECT_FALSE(h.keep_alive);
}

TEST(ParseResponse, NoBodyStatusesAndMethods) {
  struct {
    std::string_view resp, method;
  } cases[] = {
      {"HTTP/1.1 204 No Content\r\n\r\n", "GET"},
      {"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", "GET"},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n", "GET"},
      {"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "GET"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "HEAD"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD"},
      {"HTTP/1.1 200 OK\r\n\r\n", "HEAD"},
      {"HTTP/1.1 200 Connection Established\r\n\r\n", "CONNECT"},
      {"HTTP/1.1 100 Continue\r\n\r\n", "POST"},
      {"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", "GET"},
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
       "GET"},
  };
  for (const auto& c : cases) {
    ResponseHead h;
    ParseResult r = parse_resp(c.resp, h, c.method);
    ASSERT_EQ(r.status, ParseStatus::kDone) << c.resp << r.error_reason;
    EXPECT_EQ(h.body.kind, BodyKind::kNone) << c.resp;
    EXPECT_TRUE(h.keep_alive) << c.resp;
  }
  ResponseHead h;
  ASSERT_EQ(parse_resp("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n", h, "CONNECT").status,
            ParseStatus::kDone);
  EXPECT_EQ(h.body.kind, BodyKind::kContentLength);  // only 2xx to CONNECT is a tunnel
}

TEST(ParseResponse, InterimThenFinalInOneBuffer) {
  std::string_view buf =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  ResponseHead h;
  ParseResult r = parse_resp(buf, h, "POST");
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(h.status, 100);
  buf.remove_prefix(r.consumed);
  r = parse_resp(buf, h, "POST");
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(h.status, 201);
  EXPECT_EQ(h.reason, "Created");
  EXPECT_EQ(buf.substr(r.consumed), "ok");
}

TEST(ParseResponse, ReasonPhraseForms) {
  ResponseHead h;
  ASSERT_EQ(parse_resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", h).status, ParseStatus::kDone);
  EXPECT_EQ(h.reason, "");
  ASSERT_EQ(parse_resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", h).status, ParseStatus::kDone);
  EXPECT_EQ(h.reason, "");
  ASSERT_EQ(parse_resp("HTTP/1.1 404 Not  Found\tHere\r\nContent-Length: 0\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(h.reason, "Not  Found\tHere");
}

TEST(ParseResponse, Http10KeepAlive) {
  ResponseHead h;
  ASSERT_EQ(parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_FALSE(h.keep_alive);
  ASSERT_EQ(parse_resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", h)
                .status,
            ParseStatus::kDone);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(
      parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", h).status,
      ParseStatus::kDone);
  EXPECT_FALSE(h.keep_alive);
}

TEST(ParseResponse, ByteByByte) {
  std::string_view resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n";
  for (size_t k = 0; k < resp.size(); ++k) {
    ResponseHead h;
    ASSERT_EQ(parse_response_head(resp.substr(0, k), ParseLimits{}, "GET", h, k ? k - 1 : 0).status,
              ParseStatus::kNeedMore)
        << k;
  }
  ResponseHead h;
  ParseResult r = parse_response_head(resp, ParseLimits{}, "GET", h, resp.size() - 1);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.consumed, resp.size());
}

TEST(ParseResponse, RefusedWith502) {
  EXPECT_EQ(
      resp_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
      502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 099 Low\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 600 High\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 20 OK\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 2000 OK\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1  200 OK\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/2.0 200 OK\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("http/1.1 200 OK\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("HTTP/1.1 200 O\x01K\r\n\r\n"), 502);
  EXPECT_EQ(resp_error("\r\nHTTP/1.1 200 OK\r\n\r\n"), 502);
  ParseLimits small;
  small.max_header_bytes = 64;
  ResponseHead h;
  ParseResult r =
      parse_response_head("HTTP/1.1 200 OK\r\nX-Pad: " + std::string(100, 'p'), small, "GET", h);
  EXPECT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error_status, 502);
}

}  // namespace
}  // namespace cw::http::h1
