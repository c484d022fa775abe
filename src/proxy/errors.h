// The proxy's own errors: a code naming the failing hop, its HTTP status, and the JSON body
// (SPEC 3). Thread contract: pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cw::proxy {

enum class ProxyError : uint8_t {
  kNone,
  kBadRequest,              // 400 malformed request (codec refused it)
  kForbidden,               // 403 listener ACL
  kNoRoute,                 // 404 no route matched
  kRequestTimeout,          // 408 request head not received in time
  kClientBodyTimeout,       // 408 request body stalled (body_read_timeout or route timeout)
  kHeadersTooLarge,         // 431
  kNotImplemented,          // 501 transfer coding
  kVersionNotSupported,     // 505
  kUpstreamConnectRefused,  // 503 connection refused
  kUpstreamConnectTimeout,  // 504
  kUpstreamConnectFailed,   // 503 other connect errors
  kUpstreamReset,           // 502 reset or closed before a complete response
  kUpstreamBadResponse,     // 502 malformed response
  kUpstreamTimeout,         // 504 route timeout waiting for the response
  kNoHealthyUpstream,       // 503
  kPoolExhausted,           // 503 connection pool at max_connections (and no room or time to queue)
  kFaultAbort,              // an injected abort (routes[].fault, x-causeway-fault), with its status
  kOverflow,                // 503 a circuit-breaker limit refused the try (the body names it)
  kCount,
};

struct ErrorInfo {
  std::string_view code;  // "upstream_connect_refused", ...
  int status;
  std::string_view hop;  // who failed: "client", "proxy" (config/policy) or "upstream"
};

const ErrorInfo& error_info(ProxyError e);

// Maps a codec refusal status (400/431/501/505) to the error.
ProxyError error_for_parse_status(int status);

// {"error":CODE,"hop":...,"cluster":...,"upstream":...,"request_id":...,"detail":...}; empty
// fields are left out. `fields`: more members as raw JSON (`"limit":"max_pending","value":64`),
// placed right after the code.
std::string error_body(ProxyError e, std::string_view cluster, std::string_view upstream,
                       std::string_view request_id, std::string_view detail = {},
                       std::string_view fields = {});

// Appends s to out as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);

}  // namespace cw::proxy
