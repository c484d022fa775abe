// Head serialization, chunk headers, and write -> parse round trips.
#include "http/h1/writer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "http/h1/parser.h"

namespace cw::http::h1 {
namespace {

TEST(Writer, RequestHead) {
  RequestHead h;
  h.method = "POST";
  h.target = "/api/v1?x=1";
  h.version_minor = 0;  // always written as HTTP/1.1
  h.headers.add("Host", "backend:8080");
  h.headers.add("Content-Length", "5");
  h.headers.add("X-Multi", "a");
  h.headers.add("X-Multi", "b");
  std::string out = "prefix|";
  write_request_head(h, out);
  EXPECT_EQ(out,
            "prefix|POST /api/v1?x=1 HTTP/1.1\r\nHost: backend:8080\r\nContent-Length: 5\r\n"
            "X-Multi: a\r\nX-Multi: b\r\n\r\n");
}

// A transform whose fields outgrow the room made up front (and pieces of every copy size):
// the head grows and stays exact.
class LongFields final : public HeaderTransform {
 public:
  bool keep(const Header& h) const override { return h.name != "Drop"; }
  void append(FieldSink& out) const override {
    for (size_t n = 0; n <= 80; n += 7) {
      const std::string v(n, char('a' + n % 26));
      out.add("X-Len", {v, "|", std::string_view(v).substr(0, n / 2)});
    }
  }
};

TEST(Writer, TransformBeyondTheRoomMadeUpFront) {
  RequestHead h;
  h.method = "GET";
  h.target = "/";
  h.headers.add("Host", "h");
  h.headers.add("Drop", "x");
  h.headers.add("Content-Length", "3");
  std::string out = "p|";
  const LongFields t;
  const BodyFraming framing{BodyKind::kContentLength, 12345678901234567890u};
  write_request_head(h, out, &t, &framing);
  std::string want = "p|GET / HTTP/1.1\r\nHost: h\r\n";
  for (size_t n = 0; n <= 80; n += 7) {
    const std::string v(n, char('a' + n % 26));
    want += "X-Len: " + v + "|" + v.substr(0, n / 2) + "\r\n";
  }
  want += "Content-Length: 12345678901234567890\r\n\r\n";
  EXPECT_EQ(out, want);
}

TEST(Writer, ResponseHead) {
  ResponseHead h;
  h.status = 404;
  h.reason = "Nope";
  h.headers.add("Content-Length", "0");
  std::string out;
  write_response_head(h, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n");
}

TEST(Writer, ResponseDefaultReason) {
  ResponseHead h;
  h.status = 502;
  std::string out;
  write_response_head(h, out);
  EXPECT_EQ(out, "HTTP/1.1 502 Bad Gateway\r\n\r\n");
  out.clear();
  h.status = 299;
  write_response_head(h, out);
  EXPECT_EQ(out, "HTTP/1.1 299 Unknown\r\n\r\n");
}

TEST(Writer, ChunkHeader) {
  std::string out;
  write_chunk_header(1, out);
  write_chunk_header(255, out);
  write_chunk_header(4096, out);
  write_chunk_header(SIZE_MAX, out);
  EXPECT_EQ(out, "1\r\nff\r\n1000\r\nffffffffffffffff\r\n");
  EXPECT_EQ(kChunkTrailer, "\r\n");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
}

TEST(Writer, RequestRoundTrip) {
  RequestHead h;
  h.method = "PUT";
  h.target = "/a%20b?c";
  h.headers.add("Host", "example.com");
  h.headers.add("Transfer-Encoding", "chunked");
  h.headers.add("Expect", "100-continue");
  std::string out;
  write_request_head(h, out);
  RequestHead back;
  ParseResult r = parse_request_head(out, ParseLimits{}, back);
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error_reason;
  EXPECT_EQ(r.consumed, out.size());
  EXPECT_EQ(back.method, "PUT");
  EXPECT_EQ(back.target, "/a%20b?c");
  EXPECT_EQ(back.host, "example.com");
  EXPECT_EQ(back.body.kind, BodyKind::kChunked);
  EXPECT_TRUE(back.expect_continue);
  EXPECT_EQ(back.headers.size(), 3u);
}

TEST(Writer, ResponseRoundTrip) {
  ResponseHead h;
  h.status = 201;
  h.headers.add("Content-Length", "42");
  h.headers.add("Set-Cookie", "a=b; Path=/");
  std::string out;
  write_response_head(h, out);
  ResponseHead back;
  ParseResult r = parse_response_head(out, ParseLimits{}, "POST", back);
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error_reason;
  EXPECT_EQ(back.status, 201);
  EXPECT_EQ(back.reason, "Created");
  EXPECT_EQ(back.body.kind, BodyKind::kContentLength);
  EXPECT_EQ(back.body.length, 42u);
  EXPECT_EQ(*back.headers.get("set-cookie"), "a=b; Path=/");
}

}  // namespace
}  // namespace cw::http::h1
