// HTTP/1.1 head serialization: RequestHead/ResponseHead -> bytes appended to a std::string.
// Thread contract: pure functions; any thread.
#pragma once

#include <sys/uio.h>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "http/header_transform.h"
#include "http/message.h"

namespace cw::http::h1 {

inline constexpr std::string_view kChunkTrailer = "\r\n";  // ends each chunk's data
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Appends a head to a string through a raw cursor. A head is some twenty short pieces: room
// for what the caller can count is made with one size change (not one check and one libc
// memcpy call per piece), pieces under 33 bytes are copied inline, and finish() trims the
// string to what was written. Pieces past the room made so far need reserve() first.
class HeadCursor {
 public:
  HeadCursor(std::string& out, size_t room) : out_(out) {
    const size_t at = out.size();
    out.resize(at + room);
    w_ = out.data() + at;
    end_ = out.data() + out.size();
  }
  HeadCursor(const HeadCursor&) = delete;
  HeadCursor& operator=(const HeadCursor&) = delete;

  // Room for n more bytes.
  void reserve(size_t n) {
    if (size_t(end_ - w_) < n) grow(n);
  }
  // For writers that keep the cursor in a register (stores through a char* may alias the
  // member): room(n) makes room for n bytes and returns where to write; commit(w) moves the
  // cursor to w.
  char* room(size_t n) {
    reserve(n);
    return w_;
  }
  void commit(char* w) {
    assert(w <= end_);
    w_ = w;
  }
  void put(std::string_view s) {
    assert(s.size() <= size_t(end_ - w_));
    w_ = copy(w_, s.data(), s.size());
  }
  void put(char c) {
    assert(w_ < end_);
    *w_++ = c;
  }
  void crlf() {
    assert(end_ - w_ >= 2);
    w_[0] = '\r';
    w_[1] = '\n';
    w_ += 2;
  }
  // "name: value" CRLF; its size is name + value + 4.
  void field(std::string_view name, std::string_view value) {
    assert(name.size() + value.size() + 4 <= size_t(end_ - w_));
    char* w = copy(w_, name.data(), name.size());
    w[0] = ':';
    w[1] = ' ';
    w = copy(w + 2, value.data(), value.size());
    w[0] = '\r';
    w[1] = '\n';
    w_ = w + 2;
  }
  void finish() { out_.resize(size_t(w_ - out_.data())); }

  static char* copy(char* w, const char* p, size_t n);

 private:
  void grow(size_t n);
  std::string& out_;
  char* w_;
  char* end_;
};

inline char* HeadCursor::copy(char* w, const char* p, size_t n) {
  // Two overlapping fixed-size moves cover any length in [k, 2k]: no loop, no call.
  if (n > 32) {
    std::memcpy(w, p, n);
  } else if (n >= 16) {
    char a[16], b[16];
    std::memcpy(a, p, 16);
    std::memcpy(b, p + n - 16, 16);
    std::memcpy(w, a, 16);
    std::memcpy(w + n - 16, b, 16);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + n - 8, 8);
    std::memcpy(w, &a, 8);
    std::memcpy(w + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    std::memcpy(w, &a, 4);
    std::memcpy(w + n - 4, &b, 4);
  } else if (n > 0) {
    w[0] = p[0];
    w[n >> 1] = p[n >> 1];
    w[n - 1] = p[n - 1];
  }
  return w + n;
}

// Appends "METHOD target HTTP/1.1\r\n", the headers in order, then "\r\n". Without a
// transform or `framing`, writes exactly what `head.headers` holds: the caller has already set
// Host and the framing headers it wants. With `transform`, only the fields it keeps, then the
// ones it appends. With `framing`, the head's own Content-Length / Transfer-Encoding are left
// out and the framing is stated from it (chunked or a length; nothing for kNone). Names and
// values must be valid (the parser guarantees it for parsed headers; check others with
// is_valid_field_value in tokens.h).
void write_request_head(const RequestHead& head, std::string& out,
                        const HeaderTransform* transform = nullptr,
                        const BodyFraming* framing = nullptr);

// The status line, the one writer of it: "HTTP/1.<minor> <status> <reason>\r\n", with
// reason_phrase(status) when reason is empty. A status outside 100-999 is written as 500 so a
// broken invariant cannot break framing.
void write_status_line(int version_minor, int status, std::string_view reason, std::string& out);
// The same through a cursor (it makes its own room).
void write_status_line(int version_minor, int status, std::string_view reason, HeadCursor& out);

// Bytes the fields take written as "name: value" CRLF each, plus the CRLF that ends a head.
size_t fields_size(const HeaderMap& headers);

// Appends the status line (HTTP/1.1), the headers in order, then "\r\n". Same contract on
// headers as write_request_head.
void write_response_head(const ResponseHead& head, std::string& out);

// Appends "Content-Length: n\r\n" or "Transfer-Encoding: chunked\r\n" as `framing` says
// (nothing for kNone or kUntilClose).
void write_framing(const BodyFraming& framing, std::string& out);
// The same through a cursor, with room for at most kFramingRoom bytes made by the caller.
inline constexpr size_t kFramingRoom = 48;
void write_framing(const BodyFraming& framing, HeadCursor& out);

// Appends the chunk-size line for an n-byte chunk: lowercase hex, then CRLF. n must be > 0
// (a 0 would be the last chunk: append kLastChunk instead).
void write_chunk_header(size_t n, std::string& out);

// Frames one piece of a body for the wire into iov (at most 3 entries): for chunked, the
// chunk-size line (written into `line`, >= 24 bytes), the data and its CRLF, plus the last
// chunk when `end`; otherwise the data alone. Returns the number of entries used.
int frame_body_piece(std::string_view data, bool end, bool chunked, char* line, iovec* iov);

}  // namespace cw::http::h1
