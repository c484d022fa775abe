// BodyDecoder: Content-Length, chunked (split at every offset), until-close, framing errors.
#include "http/h1/body_decoder.h"

#include <gtest/gtest.h>

#include <string>

namespace cw::http::h1 {
namespace {

const BodyFraming kChunked{BodyKind::kChunked, 0};

struct Decoded {
  std::string body;
  size_t consumed = 0;  // total input bytes consumed
  bool done = false;
  bool error = false;
  std::string reason;
};

// Feeds `input` in pieces of at most `piece` bytes (the last ones buffered as a socket
// reader would) until done, error or all input is used.
Decoded decode_all(BodyFraming framing, std::string_view input, size_t piece) {
  BodyDecoder dec(framing);
  Decoded out;
  std::string buf;
  size_t fed = 0;
  while (true) {
    BodyDecoder::Step s = dec.decode(buf);
    out.body.append(s.data);
    out.consumed += s.consumed;
    buf.erase(0, s.consumed);
    if (s.error) {
      out.error = true;
      out.reason = s.error_reason;
      return out;
    }
    if (s.done) {
      out.done = true;
      return out;
    }
    if (s.consumed == 0 && s.data.empty()) {
      if (fed == input.size()) return out;
      size_t n = std::min(piece, input.size() - fed);
      buf.append(input.substr(fed, n));
      fed += n;
    }
  }
}

TEST(BodyDecoder, NoneIsDoneAtOnce) {
  BodyDecoder dec(BodyFraming{BodyKind::kNone, 0});
  EXPECT_TRUE(dec.done());
  BodyDecoder::Step s = dec.decode("GET / HTTP/1.1\r\n");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, 0u);
  EXPECT_TRUE(s.data.empty());
}

TEST(BodyDecoder, ContentLength) {
  BodyDecoder dec(BodyFraming{BodyKind::kContentLength, 10});
  EXPECT_EQ(dec.remaining(), 10u);
  std::string_view in = "0123";
  BodyDecoder::Step s = dec.decode(in);
  EXPECT_EQ(s.consumed, 4u);
  EXPECT_EQ(s.data, "0123");
  EXPECT_EQ(s.data.data(), in.data());  // zero copy
  EXPECT_FALSE(s.done);
  EXPECT_EQ(dec.remaining(), 6u);
  s = dec.decode("456789NEXT");
  EXPECT_EQ(s.consumed, 6u);
  EXPECT_EQ(s.data, "456789");
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(dec.done());
  s = dec.decode("NEXT");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, 0u);
}

TEST(BodyDecoder, ContentLengthZero) {
  BodyDecoder dec(BodyFraming{BodyKind::kContentLength, 0});
  EXPECT_TRUE(dec.done());
  EXPECT_TRUE(dec.decode("x").done);
}

TEST(BodyDecoder, ContentLengthNeedsMore) {
  BodyDecoder dec(BodyFraming{BodyKind::kContentLength, 3});
  BodyDecoder::Step s = dec.decode("");
  EXPECT_EQ(s.consumed, 0u);
  EXPECT_TRUE(s.data.empty());
  EXPECT_FALSE(s.done);
}

TEST(BodyDecoder, UntilCloseNeverDone) {
  BodyDecoder dec(BodyFraming{BodyKind::kUntilClose, 0});
  BodyDecoder::Step s = dec.decode("everything\r\n0\r\n\r\n");
  EXPECT_EQ(s.data, "everything\r\n0\r\n\r\n");
  EXPECT_EQ(s.consumed, s.data.size());
  EXPECT_FALSE(s.done);
  EXPECT_FALSE(dec.done());
}

TEST(BodyDecoder, ChunkedSimple) {
  std::string_view in = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nGET /next";
  Decoded d = decode_all(kChunked, in, in.size());
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, "hello, world");
  EXPECT_EQ(in.substr(d.consumed), "GET /next");
}

TEST(BodyDecoder, ChunkedDataIsAViewIntoInput) {
  BodyDecoder dec(kChunked);
  std::string_view in = "3\r\nabc\r\n0\r\n\r\n";
  BodyDecoder::Step s = dec.decode(in);
  EXPECT_EQ(s.data, "abc");
  EXPECT_EQ(s.data.data(), in.data() + 3);
  EXPECT_EQ(s.consumed, 6u);
  s = dec.decode(in.substr(6));
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.data.empty());
  EXPECT_EQ(s.consumed, in.size() - 6);
}

TEST(BodyDecoder, ChunkedHexExtensionsAndTrailers) {
  std::string_view in =
      "A;name=value;flag\r\n0123456789\r\n"
      "1a ; q=\"quoted \\\" string;with=stuff\"\t;x\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "0000F\r\n0123456789ABCDE\r\n"
      "0;final\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n";
  Decoded d = decode_all(kChunked, in, in.size());
  EXPECT_TRUE(d.done) << d.reason;
  EXPECT_EQ(d.body, "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDE");
  EXPECT_EQ(d.consumed, in.size());
}

// A representative chunked body, split into two reads at every offset and fed byte by byte.
TEST(BodyDecoder, ChunkedSplitAtEveryOffset) {
  const std::string in =
      "4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: v\r\n\r\nNEXT";
  const std::string want = "Wikipedia in\r\n\r\nchunks.";
  const size_t body_end = in.size() - 4;
  for (size_t split = 0; split <= in.size(); ++split) {
    BodyDecoder dec(kChunked);
    std::string body;
    size_t consumed = 0;
    std::string buf = in.substr(0, split);
    bool more_fed = false;
    while (!dec.done()) {
      BodyDecoder::Step s = dec.decode(buf);
      ASSERT_FALSE(s.error) << split << ": " << s.error_reason;
      body.append(s.data);
      consumed += s.consumed;
      buf.erase(0, s.consumed);
      if (s.consumed == 0 && s.data.empty() && !s.done) {
        ASSERT_FALSE(more_fed) << "stalled at split " << split;
        buf += in.substr(split);
        more_fed = true;
      }
    }
    EXPECT_EQ(body, want) << split;
    EXPECT_EQ(consumed, body_end) << split;
  }
  for (size_t piece : {1u, 2u, 3u, 5u, 8u}) {
    Decoded d = decode_all(kChunked, in, piece);
    EXPECT_TRUE(d.done);
    EXPECT_EQ(d.body, want);
    EXPECT_EQ(d.consumed, body_end);
  }
}

TEST(BodyDecoder, ChunkedNeedsMoreInsideFraming) {
  BodyDecoder dec(kChunked);
  BodyDecoder::Step s = dec.decode("1");
  EXPECT_EQ(s.consumed, 1u);
  EXPECT_TRUE(s.data.empty());
  s = dec.decode("");
  EXPECT_EQ(s.consumed, 0u);
  s = dec.decode("0\r\n");
  EXPECT_EQ(s.consumed, 3u);
  s = dec.decode("0123456789abcdef");
  EXPECT_EQ(s.data, "0123456789abcdef");
  EXPECT_EQ(dec.remaining(), 0u);
  s = dec.decode("\r");
  EXPECT_EQ(s.consumed, 1u);
  EXPECT_FALSE(dec.done());
}

TEST(BodyDecoder, ChunkedLargeSizeAccepted) {
  BodyDecoder dec(kChunked);
  BodyDecoder::Step s = dec.decode("7fffffffffffffff\r\nabc");
  EXPECT_FALSE(s.error);
  EXPECT_EQ(s.data, "abc");
  EXPECT_EQ(dec.remaining(), 0x7fffffffffffffffull - 3);
  BodyDecoder dec2(kChunked);
  EXPECT_FALSE(dec2.decode("8000000000000000\r\n").error);  // exactly 2^63
}

TEST(BodyDecoder, ChunkedErrors) {
  const char* bad[] = {
      "0x10\r\n",              // hex prefix
      "-1\r\n",                // sign
      "+1\r\nx\r\n0\r\n\r\n",  // sign
      "\r\n",                  // empty size
      "g\r\n",                 // not hex
      "5 \r\nhello\r\n",       // whitespace before CRLF
      " 5\r\nhello\r\n",       // leading whitespace
      "5\nhello\r\n",          // bare LF
      "5\rhello\r\n",          // CR without LF
      "5;\r\nhello\r\n",       // empty extension name
      "5;a b\r\nhello\r\n",    // two tokens
      "5;a=\r\nhello\r\n",     // missing value
      "5;a=\"x\r\nhello\r\n",  // unterminated quoted string (CR is not qdtext)
      "5;a=\"x\" y\r\nhello\r\n",
      "5;a=b c\r\nhello\r\n",
      "5;@\r\nhello\r\n",
      "5;a\nb\r\nhello\r\n",
      "5\r\nhelloXX",  // data not followed by CRLF
      "5\r\nhello\r0\r\n",
      "5\r\nhello\n0\r\n\r\n",
      "3\r\nhello\r\n",         // more data than announced
      "00000000000000001\r\n",  // 17 digits
      "8000000000000001\r\n",   // > 2^63
      "ffffffffffffffff\r\n",
      "0\r\nX: a\nY: b\r\n\r\n",  // bare LF in trailer
      "0\r\nX: a\r\n b\r\n\r\n",  // obs-fold in trailer
      "0\r\n: a\r\n\r\n",         // empty trailer name
      "0\r\nX : a\r\n\r\n",       // space before colon
      "0\r\nX\r\n\r\n",           // no colon
      "0\r\nX: a\x01\r\n\r\n",    // control char
      "0\r\n\rX",                 // CR without LF at the end
      "0\r\n\n",                  // bare LF at the end
  };
  for (std::string_view in : bad) {
    for (size_t piece : {in.size(), size_t{1}}) {
      Decoded d = decode_all(kChunked, in, piece);
      EXPECT_TRUE(d.error) << "input: " << in << " piece " << piece;
      EXPECT_FALSE(d.reason.empty());
    }
  }
}

TEST(BodyDecoder, ErrorIsSticky) {
  BodyDecoder dec(kChunked);
  BodyDecoder::Step s = dec.decode("zz");
  EXPECT_TRUE(s.error);
  EXPECT_EQ(s.consumed, 1u);
  EXPECT_TRUE(dec.failed());
  s = dec.decode("5\r\nhello\r\n");
  EXPECT_TRUE(s.error);
  EXPECT_EQ(s.consumed, 0u);
  EXPECT_TRUE(s.data.empty());
}

TEST(BodyDecoder, ChunkLineLimit) {
  std::string ok = "1;x=" + std::string(kMaxChunkLineBytes - 6, 'a') + "\r\nz\r\n0\r\n\r\n";
  Decoded d = decode_all(kChunked, ok, ok.size());
  EXPECT_TRUE(d.done) << d.reason;
  std::string too_long = "1;x=" + std::string(kMaxChunkLineBytes - 5, 'a') + "\r\nz\r\n0\r\n\r\n";
  d = decode_all(kChunked, too_long, 100);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.reason, "chunk-size line too long");
}

TEST(BodyDecoder, TrailerLimit) {
  // Trailer bytes count every byte after "0\r\n" including the final CRLF.
  std::string field = "X: " + std::string(kMaxTrailerBytes - 7, 'v') + "\r\n";
  std::string ok = "0\r\n" + field + "\r\n";
  Decoded d = decode_all(kChunked, ok, ok.size());
  EXPECT_TRUE(d.done) << d.reason;
  std::string big = "0\r\nX: " + std::string(kMaxTrailerBytes - 6, 'v') + "\r\n\r\n";
  d = decode_all(kChunked, big, 512);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.reason, "trailers too large");
}

}  // namespace
}  // namespace cw::http::h1
