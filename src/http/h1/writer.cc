// HTTP/1.1 head serialization (see writer.h). Sizes the output once, then writes through a
// HeadCursor.
// Thread contract: pure functions; any thread.
#include "http/h1/writer.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace cw::http::h1 {
namespace {

// Writes the fields a transform appends straight into the head.
class LineSink final : public FieldSink {
 public:
  explicit LineSink(HeadCursor& out) : out_(out) {}
  void add(std::string_view name, std::initializer_list<std::string_view> parts) override {
    // One room check and inline copies: this runs for every field the proxy adds.
    size_t n = name.size() + 4;
    for (std::string_view p : parts) n += p.size();
    char* w = HeadCursor::copy(out_.room(n), name.data(), name.size());
    w[0] = ':';
    w[1] = ' ';
    w += 2;
    for (std::string_view p : parts) w = HeadCursor::copy(w, p.data(), p.size());
    w[0] = '\r';
    w[1] = '\n';
    out_.commit(w + 2);
  }

 private:
  HeadCursor& out_;
};

}  // namespace

size_t fields_size(const HeaderMap& headers) {
  size_t n = 2;                                                             // final CRLF
  for (const Header& h : headers) n += h.name.size() + h.value.size() + 4;  // ": " + CRLF
  return n;
}

void HeadCursor::grow(size_t n) {
  const size_t used = size_t(w_ - out_.data());
  out_.resize(std::max(out_.size() * 2, used + n));
  w_ = out_.data() + used;
  end_ = out_.data() + out_.size();
}

void write_request_head(const RequestHead& head, std::string& out, const HeaderTransform* transform,
                        const BodyFraming* framing) {
  // Room for all but the transform's own fields, which LineSink makes room for (256 bytes
  // covers the proxy's usual ones, so that rarely moves the head).
  HeadCursor c(out, head.method.size() + head.target.size() + 12 + fields_size(head.headers) +
                        (framing ? kFramingRoom : 0) + (transform ? 256 : 0));
  c.put(head.method);
  c.put(' ');
  c.put(head.target);
  c.put(" HTTP/1.1\r\n");
  for (const Header& h : head.headers) {
    if (framing && header_has(h.token, kFraming)) continue;
    if (transform && !transform->keep(h)) continue;
    c.field(h.name, h.value);
  }
  if (transform) {
    LineSink sink(c);
    transform->append(sink);
    c.reserve((framing ? kFramingRoom : 0) + 2);
  }
  if (framing) write_framing(*framing, c);
  c.crlf();
  c.finish();
}

void write_status_line(int version_minor, int status, std::string_view reason, HeadCursor& out) {
  if (status < 100 || status > 999) status = 500;
  if (reason.empty()) reason = reason_phrase(status);
  char* w = out.room(13 + reason.size() + 2);
  w[0] = 'H';
  w[1] = 'T';
  w[2] = 'T';
  w[3] = 'P';
  w[4] = '/';
  w[5] = '1';
  w[6] = '.';
  w[7] = static_cast<char>('0' + (version_minor == 0 ? 0 : 1));
  w[8] = ' ';
  w[9] = static_cast<char>('0' + status / 100);
  w[10] = static_cast<char>('0' + status / 10 % 10);
  w[11] = static_cast<char>('0' + status % 10);
  w[12] = ' ';
  w = HeadCursor::copy(w + 13, reason.data(), reason.size());
  w[0] = '\r';
  w[1] = '\n';
  out.commit(w + 2);
}

void write_status_line(int version_minor, int status, std::string_view reason, std::string& out) {
  HeadCursor c(out, 15 + reason.size());
  write_status_line(version_minor, status, reason, c);
  c.finish();
}

void write_response_head(const ResponseHead& head, std::string& out) {
  HeadCursor c(out, 15 + head.reason.size() + 32 + fields_size(head.headers));
  write_status_line(1, head.status, head.reason, c);
  for (const Header& h : head.headers) c.field(h.name, h.value);
  c.crlf();
  c.finish();
}

void write_framing(const BodyFraming& framing, HeadCursor& out) {
  if (framing.kind == BodyKind::kContentLength) {
    char num[24];
    auto r = std::to_chars(num, num + sizeof num, framing.length);
    out.put("Content-Length: ");
    out.put(std::string_view(num, size_t(r.ptr - num)));
    out.crlf();
  } else if (framing.kind == BodyKind::kChunked) {
    out.put("Transfer-Encoding: chunked\r\n");
  }
}

void write_framing(const BodyFraming& framing, std::string& out) {
  HeadCursor c(out, kFramingRoom);
  write_framing(framing, c);
  c.finish();
}

void write_chunk_header(size_t n, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[2 * sizeof(size_t) + 2];
  size_t pos = sizeof(buf);
  buf[--pos] = '\n';
  buf[--pos] = '\r';
  do {
    buf[--pos] = kHex[n & 0xf];
    n >>= 4;
  } while (n != 0);
  out.append(buf + pos, sizeof(buf) - pos);
}

int frame_body_piece(std::string_view data, bool end, bool chunked, char* line, iovec* iov) {
  int n = 0;
  if (chunked && !data.empty()) {
    static constexpr char kHex[] = "0123456789abcdef";
    char digits[2 * sizeof(size_t)];
    size_t len = 0;
    for (size_t v = data.size(); v != 0; v >>= 4) digits[len++] = kHex[v & 0xf];
    for (size_t i = 0; i < len; ++i) line[i] = digits[len - 1 - i];
    line[len] = '\r';
    line[len + 1] = '\n';
    iov[n++] = {line, len + 2};
  }
  if (!data.empty()) iov[n++] = {const_cast<char*>(data.data()), data.size()};
  if (chunked) {
    static constexpr std::string_view kCrlf = "\r\n";
    static constexpr std::string_view kCrlfLast = "\r\n0\r\n\r\n";
    std::string_view tail =
        data.empty() ? (end ? kLastChunk : std::string_view()) : (end ? kCrlfLast : kCrlf);
    if (!tail.empty()) iov[n++] = {const_cast<char*>(tail.data()), tail.size()};
  }
  return n;
}

}  // namespace cw::http::h1
