// Upstream request head construction. Thread contract: see request_headers.h.
#include "proxy/request_headers.h"

#include <charconv>

#include "http/h1/tokens.h"

namespace cw::proxy {
namespace {

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Headers we never copy verbatim: hop-by-hop ones, ones we restate, ones we rewrite.
bool dropped_on_forward(std::string_view n) {
  using http::iequals;
  switch (n.size()) {
    case 2: return iequals(n, "te");
    case 3: return iequals(n, "via");
    case 6: return iequals(n, "expect");
    case 7: return iequals(n, "trailer") || iequals(n, "upgrade");
    case 10: return iequals(n, "connection") || iequals(n, "keep-alive");
    case 11: return iequals(n, "traceparent");
    case 12: return iequals(n, "x-request-id");
    case 14: return iequals(n, "content-length");
    case 15: return iequals(n, "x-forwarded-for");
    case 16: return iequals(n, "proxy-connection") || iequals(n, "x-forwarded-host");
    case 17: return iequals(n, "transfer-encoding") || iequals(n, "x-forwarded-proto");
    case 19: return iequals(n, "proxy-authorization");
    default: return false;
  }
}

void header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

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

void build_upstream_request(const http::RequestHead& req, const ForwardedFor& fwd,
                            std::string_view request_id, std::string_view trace_id_hex,
                            std::string_view span_id_hex, const http::BodyFraming& body,
                            std::string& out) {
  out.append(req.method);
  out.push_back(' ');
  out.append(req.target);
  out.append(" HTTP/1.1\r\n");

  // Names listed in Connection are hop-by-hop too (RFC 9110 7.6.1).
  const std::string* conn = req.headers.get("connection");
  auto listed_in_connection = [conn](std::string_view name) {
    if (!conn) return false;
    std::string_view v = *conn;
    while (!v.empty()) {
      auto comma = v.find(',');
      auto tok = v.substr(0, comma);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      if (http::iequals(tok, name)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
    return false;
  };

  const std::string* xff = nullptr;
  const std::string* xfp = nullptr;
  const std::string* xfh = nullptr;
  const std::string* via = nullptr;
  const std::string* rid = nullptr;
  const std::string* tp = nullptr;
  for (const auto& h : req.headers) {
    if (dropped_on_forward(h.name)) {
      switch (h.name.size()) {
        case 3: via = &h.value; break;
        case 11: tp = &h.value; break;
        case 12: rid = &h.value; break;
        case 15: xff = &h.value; break;
        case 16: if (h.name[2] == 'f' || h.name[2] == 'F') xfh = &h.value; break;
        case 17: if (h.name[2] == 'f' || h.name[2] == 'F') xfp = &h.value; break;
        default: break;
      }
      continue;
    }
    if (conn && listed_in_connection(h.name)) continue;
    header(out, h.name, h.value);
  }
  // HTTP/1.0 clients may send no Host; HTTP/1.1 upstreams require one.
  if (!req.headers.get("host")) header(out, "Host", fwd.default_host);
  if (req.upgrade) {
    header(out, "Connection", "upgrade");
    header(out, "Upgrade", req.headers.get_or("upgrade", ""));
  }

  // X-Forwarded-For: a trusted proxy's list is extended; anyone else's is replaced.
  out.append("X-Forwarded-For: ");
  if (fwd.trusted && xff && !xff->empty()) {
    out.append(*xff);
    out.append(", ");
  }
  out.append(fwd.client_ip);
  out.append("\r\n");
  header(out, "X-Forwarded-Proto", fwd.trusted && xfp ? std::string_view(*xfp) : fwd.proto);
  header(out, "X-Forwarded-Host", fwd.trusted && xfh ? std::string_view(*xfh)
                                                     : std::string_view(req.host));
  out.append("Via: ");
  if (via) {
    out.append(*via);
    out.append(", ");
  }
  out.append(req.version_minor == 0 ? "1.0 causeway\r\n" : "1.1 causeway\r\n");
  header(out, "X-Request-Id", rid && !rid->empty() ? std::string_view(*rid) : request_id);

  // traceparent: keep the trace, make this hop the parent.
  out.append("traceparent: 00-");
  if (tp && valid_traceparent(*tp)) {
    out.append(std::string_view(*tp).substr(3, 32));
    out.push_back('-');
    out.append(span_id_hex);
    out.push_back('-');
    out.append(std::string_view(*tp).substr(53, 2));
  } else {
    out.append(trace_id_hex);
    out.push_back('-');
    out.append(span_id_hex);
    out.append("-01");
  }
  out.append("\r\n");

  if (body.kind == http::BodyKind::kContentLength) {
    char num[24];
    auto r = std::to_chars(num, num + sizeof num, body.length);
    header(out, "Content-Length", std::string_view(num, size_t(r.ptr - num)));
  } else if (body.kind == http::BodyKind::kChunked) {
    header(out, "Transfer-Encoding", "chunked");
  }
  out.append("\r\n");
}

void strip_response_hop_headers(http::HeaderMap& headers) { http::h1::remove_hop_by_hop(headers); }

}  // namespace cw::proxy
