// The forwarding transform, written through the h1 writer: what reaches the upstream.
#include "proxy/request_headers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace cw::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTrace(32, 'a');
const std::string kSpan(16, 'b');

// Parses a raw client head, forwards it, returns the upstream head.
std::string forward(std::string_view raw, bool trusted = false, http::BodyFraming framing = {}) {
  http::RequestHead req;
  auto pr = http::h1::parse_request_head(raw, {}, req);
  EXPECT_EQ(pr.status, http::h1::ParseStatus::kDone) << pr.error_reason;
  ForwardedFor fwd{"192.0.2.7", trusted, "http", "api"};
  ForwardTransform t(req, fwd, "generated-id", kTrace, kSpan);
  std::string out;
  http::h1::write_request_head(req, out, &t, &framing);
  return out;
}

TEST(ForwardTransform, AddsForwardingHeadersAndKeepsTheRest) {
  std::string out = forward("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(out.rfind("GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n", 0), 0u) << out;
  EXPECT_THAT(out, HasSubstr("\r\nX-Forwarded-For: 192.0.2.7\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nX-Forwarded-Proto: http\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nX-Forwarded-Host: example.com\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nVia: 1.1 causeway\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nX-Request-Id: generated-id\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\ntraceparent: 00-" + kTrace + "-" + kSpan + "-01\r\n"));
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(ForwardTransform, UntrustedClientsForwardedForIsReplacedTrustedIsExtended) {
  const char* raw =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: front\r\n\r\n";
  std::string untrusted = forward(raw);
  EXPECT_THAT(untrusted, HasSubstr("\r\nX-Forwarded-For: 192.0.2.7\r\n"));
  EXPECT_THAT(untrusted, Not(HasSubstr("10.9.9.9")));
  EXPECT_THAT(untrusted, HasSubstr("\r\nX-Forwarded-Proto: http\r\n"));
  EXPECT_THAT(untrusted, HasSubstr("\r\nX-Forwarded-Host: h\r\n"));
  std::string trusted = forward(raw, true);
  EXPECT_THAT(trusted, HasSubstr("\r\nX-Forwarded-For: 10.9.9.9, 192.0.2.7\r\n"));
  EXPECT_THAT(trusted, HasSubstr("\r\nX-Forwarded-Proto: https\r\n"));
  EXPECT_THAT(trusted, HasSubstr("\r\nX-Forwarded-Host: front\r\n"));
}

TEST(ForwardTransform, HopByHopAndConnectionListedFieldsAreDropped) {
  std::string out = forward(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: 5\r\n"
      "X-Secret: s\r\nTE: trailers\r\nProxy-Authorization: p\r\nX-Kept: k\r\n\r\n");
  EXPECT_THAT(out, Not(HasSubstr("Connection")));
  EXPECT_THAT(out, Not(HasSubstr("Keep-Alive")));
  EXPECT_THAT(out, Not(HasSubstr("X-Secret")));
  EXPECT_THAT(out, Not(HasSubstr("TE:")));
  EXPECT_THAT(out, Not(HasSubstr("Proxy-Authorization")));
  EXPECT_THAT(out, HasSubstr("\r\nX-Kept: k\r\n"));
}

TEST(ForwardTransform, ConnectionCannotStripHostOrContentLength) {
  std::string out = forward(
      "POST / HTTP/1.1\r\nHost: h\r\nConnection: host, content-length\r\nContent-Length: 3\r\n\r\n",
      false, {http::BodyKind::kContentLength, 3});
  EXPECT_THAT(out, HasSubstr("\r\nHost: h\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nContent-Length: 3\r\n"));
}

TEST(ForwardTransform, FramingIsRestatedOnce) {
  std::string out = forward("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                            false, {http::BodyKind::kChunked, 0});
  EXPECT_EQ(out.find("Transfer-Encoding: chunked"), out.rfind("Transfer-Encoding: chunked"));
  EXPECT_THAT(out, HasSubstr("\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

TEST(ForwardTransform, ClientsRequestIdAndTraceAreKept) {
  std::string out = forward(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: mine\r\nVia: 1.1 edge\r\n"
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("\r\nX-Request-Id: mine\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nVia: 1.1 edge, 1.1 causeway\r\n"));
  EXPECT_THAT(
      out, HasSubstr("\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-" + kSpan + "-01\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("generated-id")));
}

TEST(ForwardTransform, InvalidTraceparentStartsANewTrace) {
  std::string out =
      forward("GET / HTTP/1.1\r\nHost: h\r\ntraceparent: 00-zz-b7ad6b7169203331-01\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("\r\ntraceparent: 00-" + kTrace + "-" + kSpan + "-01\r\n"));
}

TEST(ForwardTransform, Http10WithoutHostGetsTheClusterName) {
  std::string out = forward("GET / HTTP/1.0\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("\r\nHost: api\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nVia: 1.0 causeway\r\n"));
}

TEST(ForwardTransform, UpgradeIsKeptForATunnel) {
  std::string out = forward(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: k\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"));
  EXPECT_THAT(out, HasSubstr("\r\nSec-WebSocket-Key: k\r\n"));
}

TEST(Traceparent, Validation) {
  EXPECT_TRUE(valid_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  EXPECT_FALSE(valid_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  EXPECT_FALSE(valid_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
  EXPECT_FALSE(valid_traceparent("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
  EXPECT_FALSE(valid_traceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
}

}  // namespace
}  // namespace cw::proxy
