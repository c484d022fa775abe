// Strict HTTP/1.1 (RFC 9112) request/response head parser: bytes in, RequestHead/ResponseHead out.
// Thread contract: stateless pure functions (no I/O, no globals); any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "http/message.h"

namespace cw::http::h1 {

struct ParseLimits {
  size_t max_header_bytes = 64 * 1024;  // whole head incl. start line and final CRLFCRLF
  size_t max_headers = 100;             // field lines
};

enum class ParseStatus { kNeedMore, kDone, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;  // on kDone: bytes of the head incl. leading CRLFs and the final CRLFCRLF
  // On kError. Requests: 400, 431 (too big / too many fields), 501 (a transfer coding other
  // than chunked), 505 (HTTP version other than 1.0/1.1). Responses: always 502 (what the
  // proxy answers downstream). The caller answers it and closes the connection.
  int error_status = 0;
  const char* error_reason = "";  // static string, e.g. "both content-length and transfer-encoding"
};

// Parses a complete request head from the start of `data` (the bytes read so far).
// kNeedMore: the head is not complete yet and still under limits.max_header_bytes.
// kDone: `out` is filled (method, target, version_minor, headers, host, body, keep_alive,
//   expect_continue, upgrade); the body (if any) starts at data[consumed].
// kError: `out` is unspecified.
// `out` is only written on kDone/kError; reuse one RequestHead per connection so header
// strings keep their capacity.
//
// `scan_from` is an optional hint for a head arriving in several reads: pass the size of
// `data` at the previous call that returned kNeedMore on the same bytes (0 if unsure). The
// search for the end of the head then resumes there instead of rescanning from the start.
//
// Decisions beyond RFC 9112's MUSTs (all refused, never forwarded):
//  - Content-Length appearing twice is refused even with identical values; the value must be
//    1-19 ASCII digits, at most 2^63-1.
//  - Transfer-Encoding: the combined list must end in "chunked" (case-insensitive) applied
//    once, else 400; "chunked" preceded by any other coding (gzip, ...) is 501. Elements must
//    be bare tokens (no parameters, no empty elements). Trailing/leading SP/HT of a field
//    value are OWS and trimmed, so "chunked " is chunked. Refused in HTTP/1.0 (400).
//  - "Content_Length" / "Transfer_Encoding" (underscore aliases some backends normalise
//    to the real names) are refused (400).
//  - Up to 8 CRLFs before the request line are skipped (counted in `consumed`); more: 400.
//  - Absolute-form targets ("http://h/p") are accepted only if the authority equals the Host
//    header (case-insensitive); `out.target` is then rewritten to origin-form ("/p").
//  - "*" only with OPTIONS; authority-form ("host:port") only with, and required by, CONNECT.
//  - Targets are visible ASCII only (non-ASCII must be percent-encoded). An empty Host is
//    valid (RFC 9112 3.2); Host may only hold reg-name/IP-literal/port characters.
//  - Expect: 100-continue is honoured only for HTTP/1.1.
ParseResult parse_request_head(std::string_view data, const ParseLimits& limits, RequestHead& out,
                               size_t scan_from = 0);

// Same for a response to a request with method `request_method`. Body framing:
// 1xx/204/304, HEAD, and 2xx to CONNECT => kNone; Transfer-Encoding exactly "chunked" =>
// kChunked; Content-Length => kContentLength; otherwise kUntilClose (keep_alive=false).
// Refused (502): any Transfer-Encoding other than exactly "chunked", TE with CL, TE in
// HTTP/1.0, repeated/malformed Content-Length, status outside 100-599, the same syntax errors
// as requests. The reason phrase may be absent ("HTTP/1.1 200\r\n").
ParseResult parse_response_head(std::string_view data, const ParseLimits& limits,
                                std::string_view request_method, ResponseHead& out,
                                size_t scan_from = 0);

}  // namespace cw::http::h1
