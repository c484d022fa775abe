// The forwarding transform of the request head. Thread contract: see request_headers.h.
#include "proxy/request_headers.h"

#include "http/h1/tokens.h"
#include "resilience/deadline.h"

namespace cw::proxy {
namespace {

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Fields never copied verbatim: hop-by-hop ones, the framing (restated by the codec), and
// the ones this hop restates.
constexpr uint8_t kNotCopied = http::kHopByHop | http::kFraming | http::kProxyRestated;

}  // namespace

bool valid_traceparent(std::string_view s) {
  // 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>
  if (s.size() != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
  if (s.substr(0, 2) != "00") return false;
  auto trace = s.substr(3, 32), parent = s.substr(36, 16), flags = s.substr(53, 2);
  if (!is_hex(trace) || !is_hex(parent) || !is_hex(flags)) return false;
  return trace != std::string_view("00000000000000000000000000000000") &&
         parent != std::string_view("0000000000000000");
}

ForwardTransform::ForwardTransform(const http::RequestHead& req, const ForwardedFor& fwd,
                                   std::string_view request_id, std::string_view trace_id_hex,
                                   std::string_view span_id_hex)
    : req_(req),
      fwd_(fwd),
      request_id_(request_id),
      trace_id_(trace_id_hex),
      span_id_(span_id_hex) {
  using T = http::HeaderToken;
  for (const http::Header& h : req.headers) {
    switch (h.token) {
      case T::kConnection:
        conn_.add_value(h.value);
        break;
      case T::kHost:
        has_host_ = true;
        break;
      case T::kXForwardedFor:
        xff_ = &h.value;
        break;
      case T::kXForwardedProto:
        xfp_ = &h.value;
        break;
      case T::kXForwardedHost:
        xfh_ = &h.value;
        break;
      case T::kVia:
        via_ = &h.value;
        break;
      case T::kXRequestId:
        rid_ = &h.value;
        break;
      case T::kTraceparent:
        tp_ = &h.value;
        break;
      case T::kUpgrade:
        if (!upgrade_) upgrade_ = &h.value;
        break;
      case T::kXCausewayDeadline:
        deadline_ = &h.value;
        break;
      case T::kGrpcTimeout:
        grpc_timeout_ = &h.value;
        break;
      default:
        break;
    }
  }
}

bool ForwardTransform::keep(const http::Header& h) const {
  if (http::header_has(h.token, kNotCopied)) return false;
  // Names listed in Connection are hop-by-hop too (RFC 9110 7.6.1).
  return conn_.listed() == 0 || !conn_.lists(h.name);
}

void ForwardTransform::append(http::FieldSink& out) const {
  // HTTP/1.0 clients may send no Host; HTTP/1.1 upstreams require one.
  if (!has_host_) out.add("Host", {fwd_.default_host});
  if (req_.upgrade) {
    out.add("Connection", {"upgrade"});
    out.add("Upgrade", {upgrade_ ? std::string_view(*upgrade_) : std::string_view()});
  }
  // X-Forwarded-For: a trusted proxy's list is extended; anyone else's is replaced.
  if (fwd_.trusted && xff_ && !xff_->empty()) {
    out.add("X-Forwarded-For", {*xff_, ", ", fwd_.client_ip});
  } else {
    out.add("X-Forwarded-For", {fwd_.client_ip});
  }
  out.add("X-Forwarded-Proto", {fwd_.trusted && xfp_ ? std::string_view(*xfp_) : fwd_.proto});
  out.add("X-Forwarded-Host",
          {fwd_.trusted && xfh_ ? std::string_view(*xfh_) : std::string_view(req_.host)});
  const std::string_view via_self = req_.version_minor == 0 ? "1.0 causeway" : "1.1 causeway";
  if (via_) {
    out.add("Via", {*via_, ", ", via_self});
  } else {
    out.add("Via", {via_self});
  }
  out.add("X-Request-Id", {rid_ && !rid_->empty() ? std::string_view(*rid_) : request_id_});
  // traceparent: keep the trace, make this hop the parent.
  if (tp_ && valid_traceparent(*tp_)) {
    const std::string_view tp = *tp_;
    out.add("traceparent", {"00-", tp.substr(3, 32), "-", span_id_, "-", tp.substr(53, 2)});
  } else {
    out.add("traceparent", {"00-", trace_id_, "-", span_id_, "-01"});
  }
  // The budget left for this try, so the next hop knows how long it has (SPEC 4 deadlines).
  if (deadline_left_ && *deadline_left_ >= 0) {
    char num[24];
    char* end = num + sizeof num;
    char* p = end;
    int64_t v = *deadline_left_;
    do {
      *--p = char('0' + v % 10);
      v /= 10;
    } while (v > 0);
    out.add("x-causeway-deadline", {std::string_view(p, size_t(end - p))});
    if (grpc_timeout_) {
      char g[12];
      out.add("grpc-timeout", {std::string_view(g, resilience::format_grpc_timeout(*deadline_left_, g))});
    }
  }
}

void strip_response_hop_headers(http::HeaderMap& headers) { http::h1::remove_hop_by_hop(headers); }

}  // namespace cw::proxy
