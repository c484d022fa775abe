// Request head parser: happy paths, incremental arrival, limits, framing and target rules.
// (Responses: response_parser_test.cc; the malformed-request corpus: smuggling_test.cc.)
#include "http/h1/parser.h"

#include <gtest/gtest.h>

#include <string>

#include "http/h1/body_decoder.h"

namespace cw::http::h1 {
namespace {

using namespace std::string_literals;

constexpr std::string_view kGet =
    "GET /index.html?q=1&r=2 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: test/1.0\r\n"
    "Accept: */*\r\n"
    "\r\n";

ParseResult parse_req(std::string_view data, RequestHead& out, ParseLimits limits = {}) {
  return parse_request_head(data, limits, out);
}

int req_error(std::string_view data) {
  RequestHead h;
  ParseResult r = parse_req(data, h);
  return r.status == ParseStatus::kError ? r.error_status : 0;
}

TEST(ParseRequest, SimpleGet) {
  RequestHead h;
  ParseResult r = parse_req(kGet, h);
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error_reason;
  EXPECT_EQ(r.consumed, kGet.size());
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/index.html?q=1&r=2");
  EXPECT_EQ(h.path(), "/index.html");
  EXPECT_EQ(h.query(), "q=1&r=2");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_EQ(h.host, "example.com");
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers.items()[0].name, "Host");
  EXPECT_EQ(h.headers.items()[1].name, "User-Agent");
  EXPECT_EQ(h.headers.items()[1].value, "test/1.0");
  EXPECT_EQ(h.headers.items()[2].value, "*/*");
  EXPECT_EQ(h.body.kind, BodyKind::kNone);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_FALSE(h.upgrade);
}

TEST(ParseRequest, TrimsValuesAndKeepsInnerWhitespace) {
  RequestHead h;
  ASSERT_EQ(parse_req("GET / HTTP/1.1\r\nHost:example.com\r\nX-A: \t a  b \t\r\nX-Empty:\r\n"
                      "X-Spaces:   \r\n\r\n",
                      h)
                .status,
            ParseStatus::kDone);
  EXPECT_EQ(h.host, "example.com");
  EXPECT_EQ(*h.headers.get("x-a"), "a  b");
  EXPECT_EQ(*h.headers.get("x-empty"), "");
  EXPECT_EQ(*h.headers.get("x-spaces"), "");
}

TEST(ParseRequest, AcceptsObsTextInValues) {
  RequestHead h;
  ASSERT_EQ(parse_req("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(*h.headers.get("X-Name"), "caf\xc3\xa9");
}

TEST(ParseRequest, NeedsMoreUntilTheEmptyLine) {
  RequestHead h;
  for (size_t k = 0; k < kGet.size(); ++k) {
    ParseResult r = parse_req(kGet.substr(0, k), h);
    EXPECT_EQ(r.status, ParseStatus::kNeedMore) << "prefix " << k;
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(ParseRequest, ByteByByteWithScanHint) {
  RequestHead h;
  std::string buf;
  size_t scanned = 0;
  ParseResult r;
  for (char c : kGet) {
    buf.push_back(c);
    r = parse_request_head(buf, ParseLimits{}, h, scanned);
    if (r.status != ParseStatus::kNeedMore) break;
    scanned = buf.size();
  }
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.consumed, kGet.size());
  EXPECT_EQ(h.target, "/index.html?q=1&r=2");
  EXPECT_EQ(h.headers.size(), 3u);
}

TEST(ParseRequest, PipelinedRequestsInOneBuffer) {
  const std::string buf =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
      "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string_view rest = buf;
  std::vector<std::string> targets, bodies;
  RequestHead h;  // reused, as a connection would
  bool last_keep_alive = true;
  while (!rest.empty()) {
    ParseResult r = parse_req(rest, h);
    ASSERT_EQ(r.status, ParseStatus::kDone) << r.error_reason;
    rest.remove_prefix(r.consumed);
    targets.push_back(h.method + " " + h.target);
    BodyDecoder dec(h.body);
    std::string body;
    while (!dec.done()) {
      BodyDecoder::Step s = dec.decode(rest);
      ASSERT_FALSE(s.error);
      body.append(s.data);
      rest.remove_prefix(s.consumed);
      if (s.consumed == 0 && s.data.empty() && !s.done) FAIL() << "stalled";
    }
    bodies.push_back(body);
    last_keep_alive = h.keep_alive;
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"GET /a", "POST /b", "PUT /c", "DELETE /d"}));
  EXPECT_EQ(bodies, (std::vector<std::string>{"", "hello", "abc", ""}));
  EXPECT_FALSE(last_keep_alive);
  EXPECT_EQ(h.headers.size(), 2u);  // reused map shrank to the last request's fields
}

TEST(ParseRequest, EverySplitOfTwoPipelinedHeads) {
  const std::string buf = std::string(kGet) + "GET /two HTTP/1.1\r\nHost: b\r\n\r\n";
  for (size_t split = 0; split <= buf.size(); ++split) {
    std::string got;
    std::string_view first = std::string_view(buf).substr(0, split);
    RequestHead h;
    ParseResult r = parse_request_head(first, ParseLimits{}, h);
    size_t used = 0;
    if (r.status == ParseStatus::kDone) {
      got += h.target;
      used = r.consumed;
    } else {
      ASSERT_EQ(r.status, ParseStatus::kNeedMore) << split;
    }
    std::string_view rest = std::string_view(buf).substr(used);
    while (!rest.empty()) {
      r = parse_request_head(rest, ParseLimits{}, h);
      ASSERT_EQ(r.status, ParseStatus::kDone) << split;
      got += h.target;
      rest.remove_prefix(r.consumed);
    }
    EXPECT_EQ(got, "/index.html?q=1&r=2/two") << split;
  }
}

TEST(ParseRequest, ContentLengthBody) {
  RequestHead h;
  ASSERT_EQ(parse_req("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(h.body.kind, BodyKind::kContentLength);
  EXPECT_EQ(h.body.length, 12u);
  ASSERT_EQ(parse_req("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(h.body.kind, BodyKind::kContentLength);
  EXPECT_EQ(h.body.length, 0u);
  ASSERT_EQ(
      parse_req("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", h)
          .status,
      ParseStatus::kDone);
  EXPECT_EQ(h.body.length, 9223372036854775807u);
}

TEST(ParseRequest, ChunkedIsCaseInsensitiveAndTrimmed) {
  for (std::string_view te : {"chunked", "Chunked", "CHUNKED", "chunked ", "\tchunked"}) {
    RequestHead h;
    std::string req =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n";
    ParseResult r = parse_req(req, h);
    ASSERT_EQ(r.status, ParseStatus::kDone) << te << ": " << r.error_reason;
    EXPECT_EQ(h.body.kind, BodyKind::kChunked);
  }
}

TEST(ParseRequest, TransferCodingStatuses) {
  auto te = [](std::string_view v) {
    return req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(v) +
                     "\r\n\r\n");
  };
  EXPECT_EQ(te("gzip, chunked"), 501);
  EXPECT_EQ(te("gzip,chunked"), 501);
  EXPECT_EQ(te("gzip"), 400);
  EXPECT_EQ(te("chunked, gzip"), 400);
  EXPECT_EQ(te("chunked,,"), 400);
  EXPECT_EQ(te(""), 400);
  EXPECT_EQ(req_error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"),
            501);
}

TEST(ParseRequest, KeepAliveRules) {
  struct {
    std::string_view req;
    bool keep_alive;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
  };
  for (const auto& c : cases) {
    RequestHead h;
    ASSERT_EQ(parse_req(c.req, h).status, ParseStatus::kDone) << c.req;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << c.req;
  }
}

TEST(ParseRequest, Http10WithoutHost) {
  RequestHead h;
  ASSERT_EQ(parse_req("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", h).status, ParseStatus::kDone);
  EXPECT_EQ(h.version_minor, 0);
  EXPECT_EQ(h.host, "");
}

TEST(ParseRequest, EmptyHostIsValid) {
  RequestHead h;
  ASSERT_EQ(parse_req("GET / HTTP/1.1\r\nHost:\r\n\r\n", h).status, ParseStatus::kDone);
  EXPECT_EQ(h.host, "");
}

TEST(ParseRequest, HostForms) {
  for (std::string_view host : {"example.com", "example.com:8080", "[::1]:443", "10.0.0.1",
                                "xn--caf-dma.example", "a_b.example"}) {
    RequestHead h;
    std::string req = "GET / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
    ASSERT_EQ(parse_req(req, h).status, ParseStatus::kDone) << host;
    EXPECT_EQ(h.host, host);
  }
}

TEST(ParseRequest, ExpectContinue) {
  RequestHead h;
  ASSERT_EQ(parse_req("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                      "Expect: 100-Continue\r\n\r\n",
                      h)
                .status,
            ParseStatus::kDone);
  EXPECT_TRUE(h.expect_continue);
  ASSERT_EQ(
      parse_req("PUT /f HTTP/1.0\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", h).status,
      ParseStatus::kDone);
  EXPECT_FALSE(h.expect_continue);  // ignored for HTTP/1.0 (RFC 9110 10.1.1)
  ASSERT_EQ(parse_req("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_FALSE(h.expect_continue);
}

TEST(ParseRequest, WebSocketUpgrade) {
  RequestHead h;
  ASSERT_EQ(parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n",
                      h)
                .status,
            ParseStatus::kDone);
  EXPECT_TRUE(h.upgrade);
  ASSERT_EQ(parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_FALSE(h.upgrade);  // Upgrade without Connection: upgrade
  ASSERT_EQ(parse_req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_FALSE(h.upgrade);  // Connection: upgrade without Upgrade
}

TEST(ParseRequest, AbsoluteFormRewrittenToOriginForm) {
  struct {
    std::string_view target, host, want;
  } cases[] = {
      {"http://example.com/a/b?c=d", "example.com", "/a/b?c=d"},
      {"http://example.com", "example.com", "/"},
      {"http://example.com?x=1", "example.com", "/?x=1"},
      {"HTTPS://Example.COM:8443/p", "example.com:8443", "/p"},
  };
  for (const auto& c : cases) {
    RequestHead h;
    std::string req =
        "GET " + std::string(c.target) + " HTTP/1.1\r\nHost: " + std::string(c.host) + "\r\n\r\n";
    ParseResult r = parse_req(req, h);
    ASSERT_EQ(r.status, ParseStatus::kDone) << c.target << ": " << r.error_reason;
    EXPECT_EQ(h.target, c.want);
    EXPECT_EQ(h.host, c.host);
  }
  EXPECT_EQ(req_error("GET http://example.com/ HTTP/1.0\r\n\r\n"), 400);  // no Host to match
  EXPECT_EQ(req_error("GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET http:///x HTTP/1.1\r\nHost: \r\n\r\n"), 400);
}

TEST(ParseRequest, AsteriskAndAuthorityForms) {
  RequestHead h;
  ASSERT_EQ(parse_req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", h).status, ParseStatus::kDone);
  EXPECT_EQ(h.target, "*");
  ASSERT_EQ(
      parse_req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", h).status,
      ParseStatus::kDone);
  EXPECT_EQ(h.method, "CONNECT");
  EXPECT_EQ(h.target, "example.com:443");
  ASSERT_EQ(parse_req("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", h).status,
            ParseStatus::kDone);
  EXPECT_EQ(req_error("CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("CONNECT a@b:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(ParseRequest, ExtensionMethods) {
  RequestHead h;
  ASSERT_EQ(parse_req("PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n", h).status, ParseStatus::kDone);
  EXPECT_EQ(h.method, "PROPFIND");
  ASSERT_EQ(parse_req("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n", h).status, ParseStatus::kError);
}

TEST(ParseRequest, LeadingEmptyLines) {
  RequestHead h;
  std::string req = "\r\n\r\n" + std::string(kGet);
  ParseResult r = parse_req(req, h);
  ASSERT_EQ(r.status, ParseStatus::kDone);
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(parse_req("\r\n", h).status, ParseStatus::kNeedMore);
  EXPECT_EQ(parse_req("\r\n\r", h).status, ParseStatus::kNeedMore);
  std::string eight;
  for (int i = 0; i < 8; ++i) eight += "\r\n";
  EXPECT_EQ(parse_req(eight + std::string(kGet), h).status, ParseStatus::kDone);
  EXPECT_EQ(req_error(eight + "\r\n" + std::string(kGet)), 400);
}

TEST(ParseRequest, HeadSizeLimit) {
  ParseLimits limits;
  limits.max_header_bytes = 256;
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  head += std::string(256 - head.size() - 4, 'p');
  head += "\r\n\r\n";
  ASSERT_EQ(head.size(), 256u);
  RequestHead h;
  EXPECT_EQ(parse_request_head(head, limits, h).status, ParseStatus::kDone);
  // One byte more does not fit, whether or not more bytes are buffered.
  std::string big = head;
  big.insert(30, "q");
  ParseResult r = parse_request_head(big, limits, h);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error_status, 431);
  r = parse_request_head(std::string_view(big).substr(0, 256), limits, h);
  EXPECT_EQ(r.error_status, 431);
  EXPECT_EQ(parse_request_head(std::string_view(big).substr(0, 255), limits, h).status,
            ParseStatus::kNeedMore);
  // A complete head followed by a body larger than the limit is fine.
  std::string with_body = std::string(kGet) + std::string(1000, 'b');
  EXPECT_EQ(parse_request_head(with_body, limits, h).status, ParseStatus::kDone);
}

TEST(ParseRequest, HeaderCountLimit) {
  ParseLimits limits;
  limits.max_headers = 5;
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 4; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  RequestHead h;
  EXPECT_EQ(parse_request_head(req + "\r\n", limits, h).status, ParseStatus::kDone);
  ParseResult r = parse_request_head(req + "X-5: v\r\n\r\n", limits, h);
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error_status, 431);
}

TEST(ParseRequest, RefusalsOutsideTheCorpus) {
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nHost: a\r\n\x7f: b\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nHost: a\r\nX:\x00\r\n\r\n"s), 400);
  EXPECT_EQ(req_error("GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n"s), 400);
  EXPECT_EQ(req_error("\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n"s), 400);
  EXPECT_EQ(req_error(" / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(
      req_error("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n"),
      400);
  EXPECT_EQ(req_error("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(req_error("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(req_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
}

TEST(ParseRequest, ErrorReasonsAreSpecific) {
  RequestHead h;
  ParseResult r = parse_req(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", h);
  EXPECT_STREQ(r.error_reason, "both content-length and transfer-encoding");
  r = parse_req("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", h);
  EXPECT_STREQ(r.error_reason, "bare LF");
}

}  // namespace
}  // namespace cw::http::h1
