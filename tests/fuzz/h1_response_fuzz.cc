// libFuzzer target: response head parser + body decoder on arbitrary bytes, for each request
// method that changes response framing. The first byte picks the method and read size.
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace {

using cw::http::ResponseHead;
using namespace cw::http::h1;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void decode_body(const cw::http::BodyFraming& framing, std::string_view body, size_t piece) {
  BodyDecoder dec(framing);
  std::string_view rest = body;
  size_t window = 0;
  uint64_t total = 0;
  while (true) {
    std::string_view visible = rest.substr(0, window);
    BodyDecoder::Step s = dec.decode(visible);
    check(s.consumed <= visible.size());
    total += s.data.size();
    if (framing.kind == cw::http::BodyKind::kContentLength) check(total <= framing.length);
    if (s.error || s.done) return;
    rest.remove_prefix(s.consumed);
    window -= s.consumed;
    if (s.consumed == 0 && s.data.empty()) {
      if (window >= rest.size()) return;
      window += piece;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  const std::string_view method = kMethods[data[0] & 3];
  const size_t piece = 1 + (data[0] >> 2);
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  ParseLimits limits;
  limits.max_header_bytes = 8 * 1024;
  limits.max_headers = 32;

  ResponseHead head;
  const ParseResult r = parse_response_head(in, limits, method, head);
  check(r.consumed <= in.size());
  if (r.status == ParseStatus::kError) check(r.error_status == 502);
  if (r.status != ParseStatus::kDone) return 0;
  check(head.status >= 100 && head.status <= 599);

  std::string out;
  write_response_head(head, out);
  ResponseHead back;
  const ParseResult b = parse_response_head(out, ParseLimits{1 << 20, 1024}, method, back);
  check(b.status == ParseStatus::kDone && back.status == head.status &&
        back.headers.size() == head.headers.size() && back.body.kind == head.body.kind);

  const std::string_view body = in.substr(r.consumed);
  decode_body(head.body, body, body.size() + 1);
  decode_body(head.body, body, piece);
  return 0;
}
