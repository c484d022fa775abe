// libFuzzer target: request head parser + body decoder on arbitrary bytes. Beyond "no crash,
// no UB", it checks that incremental parsing agrees with one-shot parsing and that a parsed
// head written back out parses again to the same request.
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace {

using cw::http::RequestHead;
using namespace cw::http::h1;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Decodes `body` in pieces of `piece` bytes; checks every view lies inside the input.
void decode_body(const cw::http::BodyFraming& framing, std::string_view body, size_t piece) {
  BodyDecoder dec(framing);
  std::string_view rest = body;
  size_t window = 0;  // bytes made visible so far
  while (true) {
    std::string_view visible = rest.substr(0, window);
    BodyDecoder::Step s = dec.decode(visible);
    check(s.consumed <= visible.size());
    if (!s.data.empty()) {
      check(s.data.data() >= visible.data() &&
            s.data.data() + s.data.size() <= visible.data() + s.consumed);
    }
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
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  ParseLimits limits;
  limits.max_header_bytes = 8 * 1024;  // small enough that the fuzzer reaches the limit
  limits.max_headers = 32;

  RequestHead head;
  const ParseResult r = parse_request_head(in, limits, head);
  check(r.consumed <= size);

  // Incremental: a prefix that needs more, then the whole with the scan hint, must agree.
  const size_t split = size == 0 ? 0 : data[0] % (size + 1);
  RequestHead head2;
  const ParseResult p = parse_request_head(in.substr(0, split), limits, head2);
  if (p.status == ParseStatus::kNeedMore) {
    const ParseResult q = parse_request_head(in, limits, head2, split);
    check(q.status == r.status && q.consumed == r.consumed && q.error_status == r.error_status);
  }

  if (r.status != ParseStatus::kDone) return 0;
  check(r.consumed > 0);
  if (head.version_minor == 1) {
    std::string out;
    write_request_head(head, out);
    RequestHead back;
    const ParseResult b = parse_request_head(out, ParseLimits{1 << 20, 1024}, back);
    check(b.status == ParseStatus::kDone && b.consumed == out.size());
    check(back.method == head.method && back.target == head.target && back.host == head.host);
    check(back.headers.size() == head.headers.size() && back.body.kind == head.body.kind &&
          back.body.length == head.body.length && back.keep_alive == head.keep_alive);
  }
  const std::string_view body = in.substr(r.consumed);
  decode_body(head.body, body, body.size() + 1);
  decode_body(head.body, body, 1 + (size > 1 ? data[1] % 16 : 0));
  return 0;
}
