// Micro-benchmarks of the HTTP/1.1 codec's hot path: head parsing, chunked decoding, writing.
// Thread contract: single-threaded benchmark bodies.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "http/h1/body_decoder.h"
#include "http/h1/parser.h"
#include "http/h1/writer.h"

namespace {

using namespace cw::http;
using namespace cw::http::h1;

// A typical ~300-byte API request with 8 header fields.
constexpr std::string_view kRequest =
    "GET /api/v1/users/12345/orders?limit=20&offset=40 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) curl/8.4.0\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Connection: keep-alive\r\n"
    "X-Request-Id: 9f2c1e7a-4b3d-4c8e-9a1f\r\n"
    "Cookie: session=abc123def456\r\n"
    "\r\n";

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 1234\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Request-Id: 9f2c1e7a-4b3d-4c8e-9a1f\r\n"
    "\r\n";

// Google Benchmark's BM_ naming, as in the rest of bench/micro.
// NOLINTBEGIN(readability-identifier-naming)

// The hot path: one RequestHead reused per connection, so header strings keep capacity.
void BM_ParseRequestHead(benchmark::State& state) {
  RequestHead head;
  const ParseLimits limits;
  for (auto _ : state) {
    ParseResult r = parse_request_head(kRequest, limits, head);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
  state.counters["head_bytes"] = static_cast<double>(kRequest.size());
}
BENCHMARK(BM_ParseRequestHead);

// Worst case for allocation: a fresh RequestHead per request.
void BM_ParseRequestHeadFresh(benchmark::State& state) {
  const ParseLimits limits;
  for (auto _ : state) {
    RequestHead head;
    ParseResult r = parse_request_head(kRequest, limits, head);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
}
BENCHMARK(BM_ParseRequestHeadFresh);

// A head arriving in reads of 64 bytes, each call given the scan_from hint.
void BM_ParseRequestHeadIncremental(benchmark::State& state) {
  RequestHead head;
  const ParseLimits limits;
  for (auto _ : state) {
    size_t scanned = 0;
    for (size_t n = 64;; n += 64) {
      const std::string_view part = kRequest.substr(0, n);
      ParseResult r = parse_request_head(part, limits, head, scanned);
      if (r.status != ParseStatus::kNeedMore) break;
      scanned = part.size();
    }
    benchmark::DoNotOptimize(head);
  }
}
BENCHMARK(BM_ParseRequestHeadIncremental);

void BM_ParseResponseHead(benchmark::State& state) {
  ResponseHead head;
  const ParseLimits limits;
  for (auto _ : state) {
    ParseResult r = parse_response_head(kResponse, limits, "GET", head);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head);
  }
}
BENCHMARK(BM_ParseResponseHead);

void BM_WriteRequestHead(benchmark::State& state) {
  RequestHead head;
  (void)parse_request_head(kRequest, ParseLimits{}, head);
  std::string out;
  for (auto _ : state) {
    out.clear();
    write_request_head(head, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WriteRequestHead);

// 64 KiB body in 4 KiB chunks: the framing cost per byte of body.
void BM_DecodeChunked(benchmark::State& state) {
  std::string body;
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 16; ++i) {
    write_chunk_header(chunk.size(), body);
    body += chunk;
    body += kChunkTrailer;
  }
  body += kLastChunk;
  for (auto _ : state) {
    BodyDecoder dec(BodyFraming{BodyKind::kChunked, 0});
    std::string_view rest = body;
    size_t total = 0;
    while (!dec.done()) {
      BodyDecoder::Step s = dec.decode(rest);
      total += s.data.size();
      rest.remove_prefix(s.consumed);
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_DecodeChunked);

// NOLINTEND(readability-identifier-naming)

}  // namespace
