// Builds the request head sent upstream: hop-by-hop headers dropped, X-Forwarded-*, Via,
// X-Request-Id and traceparent set (SPEC 3), framing re-stated. Writes bytes directly (no
// intermediate header map) because it runs on every request.
// Thread contract: pure functions; the caller's worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace cw::proxy {

struct ForwardedFor {
  std::string_view client_ip;  // the peer's address
  bool trusted = false;        // the peer is a trusted proxy: keep its X-Forwarded-* values
  std::string_view proto = "http";
  std::string_view default_host;  // Host to send when the client sent none (HTTP/1.0)
};

// Appends the upstream request head to out. body: the framing to declare upstream (the body
// itself is re-framed by the caller to match). request_id is used when the client sent none.
// span_id: 16 hex chars for traceparent's parent-id; trace_id_hex: 32 hex chars used when the
// client sent no valid traceparent.
void build_upstream_request(const http::RequestHead& req, const ForwardedFor& fwd,
                            std::string_view request_id, std::string_view trace_id_hex,
                            std::string_view span_id_hex, const http::BodyFraming& body,
                            std::string& out);

// Drops hop-by-hop headers (and those named in Connection) from a response, in place.
void strip_response_hop_headers(http::HeaderMap& headers);

// True if s is a valid W3C traceparent (version 00).
bool valid_traceparent(std::string_view s);

}  // namespace cw::proxy
