// HTTP/1.1 head serialization (see writer.h). Sizes the output once, then appends.
// Thread contract: pure functions; any thread.
#include "http/h1/writer.h"

#include <charconv>
#include <cstring>

namespace cw::http::h1 {
namespace {

size_t headers_size(const HeaderMap& headers) {
  size_t n = 2;                                                             // final CRLF
  for (const Header& h : headers) n += h.name.size() + h.value.size() + 4;  // ": " + CRLF
  return n;
}

void append_headers(const HeaderMap& headers, std::string& out) {
  for (const Header& h : headers) {
    out.append(h.name);
    out.append(": ", 2);
    out.append(h.value);
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

}  // namespace

inline char* put(char* w, std::string_view s) {
  std::memcpy(w, s.data(), s.size());
  return w + s.size();
}

// Writes the fields a transform appends straight into the head.
class LineSink final : public FieldSink {
 public:
  explicit LineSink(std::string& out) : out_(out) {}
  void add(std::string_view name, std::initializer_list<std::string_view> parts) override {
    // One size check and plain copies: this runs for every field the proxy adds.
    size_t n = name.size() + 4;
    for (std::string_view p : parts) n += p.size();
    const size_t at = out_.size();
    out_.resize(at + n);
    char* w = out_.data() + at;
    w = put(w, name);
    *w++ = ':';
    *w++ = ' ';
    for (std::string_view p : parts) w = put(w, p);
    *w++ = '\r';
    *w = '\n';
  }

 private:
  std::string& out_;
};

void write_request_head(const RequestHead& head, std::string& out, const HeaderTransform* transform,
                        const BodyFraming* framing) {
  out.reserve(out.size() + head.method.size() + head.target.size() + 11 +
              headers_size(head.headers) + (transform ? 256 : 0));
  out.append(head.method);
  out.push_back(' ');
  out.append(head.target);
  out.append(" HTTP/1.1\r\n", 11);
  if (!transform && !framing) {
    append_headers(head.headers, out);
    return;
  }
  for (const Header& h : head.headers) {
    if (framing && header_has(h.token, kFraming)) continue;
    if (transform && !transform->keep(h)) continue;
    out.append(h.name);
    out.append(": ", 2);
    out.append(h.value);
    out.append("\r\n", 2);
  }
  if (transform) {
    LineSink sink(out);
    transform->append(sink);
  }
  if (framing) write_framing(*framing, out);
  out.append("\r\n", 2);
}

void write_status_line(int version_minor, int status, std::string_view reason, std::string& out) {
  if (status < 100 || status > 999) status = 500;
  if (reason.empty()) reason = reason_phrase(status);
  const char line[13] = {'H',
                         'T',
                         'T',
                         'P',
                         '/',
                         '1',
                         '.',
                         static_cast<char>('0' + (version_minor == 0 ? 0 : 1)),
                         ' ',
                         static_cast<char>('0' + status / 100),
                         static_cast<char>('0' + status / 10 % 10),
                         static_cast<char>('0' + status % 10),
                         ' '};
  out.append(line, sizeof(line));
  out.append(reason);
  out.append("\r\n", 2);
}

void write_response_head(const ResponseHead& head, std::string& out) {
  out.reserve(out.size() + 15 + head.reason.size() + 32 + headers_size(head.headers));
  write_status_line(1, head.status, head.reason, out);
  append_headers(head.headers, out);
}

void write_framing(const BodyFraming& framing, std::string& out) {
  if (framing.kind == BodyKind::kContentLength) {
    char num[24];
    auto r = std::to_chars(num, num + sizeof num, framing.length);
    out.append("Content-Length: ", 16);
    out.append(num, size_t(r.ptr - num));
    out.append("\r\n", 2);
  } else if (framing.kind == BodyKind::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n", 28);
  }
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
