// The request head's changes on the way upstream (SPEC 3), as a HeaderTransform any upstream
// codec applies while writing: hop-by-hop fields and those named in Connection dropped;
// X-Forwarded-For/Proto/Host, Via, X-Request-Id and traceparent restated (the client's values
// kept only where SPEC says); Host supplied for HTTP/1.0 clients; Upgrade kept for a tunnel.
// Thread contract: one request's, on its worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/connection_options.h"
#include "http/header_transform.h"
#include "http/message.h"

namespace cw::proxy {

struct ForwardedFor {
  std::string_view client_ip;  // the peer's address
  bool trusted = false;        // the peer is a trusted proxy: keep its X-Forwarded-* values
  std::string_view proto = "http";
  std::string_view default_host;  // Host to send when the client sent none (HTTP/1.0)
};

class ForwardTransform final : public http::HeaderTransform {
 public:
  // request_id is used when the client sent none. trace_id_hex (32 hex chars) is used when the
  // client sent no valid traceparent; span_id_hex (16) is this hop's parent-id. The views must
  // outlive the transform (they live in the request's frame).
  ForwardTransform(const http::RequestHead& req, const ForwardedFor& fwd,
                   std::string_view request_id, std::string_view trace_id_hex,
                   std::string_view span_id_hex);

  bool keep(const http::Header& h) const override;
  void append(http::FieldSink& out) const override;

  // The deadline this hop states upstream: *left_ms (written by each try before it sends; -1 =
  // none yet) as x-causeway-deadline, and as grpc-timeout when the client sent one.
  void state_deadline(const int64_t* left_ms) { deadline_left_ = left_ms; }
  // The client's deadline headers (last one wins), or null: read only from a trusted peer.
  const std::string* client_deadline() const { return deadline_; }
  const std::string* client_grpc_timeout() const { return grpc_timeout_; }

 private:
  const http::RequestHead& req_;
  ForwardedFor fwd_;
  std::string_view request_id_;
  std::string_view trace_id_;
  std::string_view span_id_;
  http::ConnectionOptions conn_;
  bool has_host_ = false;
  // The client's values of the fields this hop restates (last one wins), or null.
  const std::string* xff_ = nullptr;
  const std::string* xfp_ = nullptr;
  const std::string* xfh_ = nullptr;
  const std::string* via_ = nullptr;
  const std::string* rid_ = nullptr;
  const std::string* tp_ = nullptr;
  const std::string* upgrade_ = nullptr;
  const std::string* deadline_ = nullptr;
  const std::string* grpc_timeout_ = nullptr;
  const int64_t* deadline_left_ = nullptr;
};

// Drops hop-by-hop headers (and those named in Connection) from a response, in place.
void strip_response_hop_headers(http::HeaderMap& headers);

// True if s is a valid W3C traceparent (version 00).
bool valid_traceparent(std::string_view s);

}  // namespace cw::proxy
