// frame_body_piece: the wire framing both the proxy's upstream writer and its client writer use.
#include <gtest/gtest.h>

#include <string>

#include "http/h1/writer.h"

namespace cw::http::h1 {
namespace {

std::string framed(std::string_view data, bool end, bool chunked) {
  char line[24];
  iovec iov[3];
  int n = frame_body_piece(data, end, chunked, line, iov);
  std::string out;
  for (int i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

TEST(FrameBodyPiece, ChunkedPiecesAndLastChunk) {
  EXPECT_EQ(framed("hello", false, true), "5\r\nhello\r\n");
  EXPECT_EQ(framed("hello", true, true), "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(framed("", true, true), "0\r\n\r\n");
  EXPECT_EQ(framed("", false, true), "");
  EXPECT_EQ(framed(std::string(0x1abc, 'x'), false, true).substr(0, 6), "1abc\r\n");
}

TEST(FrameBodyPiece, IdentityPassesDataThrough) {
  EXPECT_EQ(framed("abc", false, false), "abc");
  EXPECT_EQ(framed("abc", true, false), "abc");
  EXPECT_EQ(framed("", true, false), "");
}

}  // namespace
}  // namespace cw::http::h1
