// Proxy error codes and their JSON bodies. Thread contract: pure functions.
#include "proxy/errors.h"

#include <cstdio>

namespace cw::proxy {
namespace {
constexpr ErrorInfo kInfo[] = {
    {"", 200, ""},
    {"bad_request", 400, "client"},
    {"forbidden", 403, "client"},
    {"no_route", 404, "proxy"},
    {"request_timeout", 408, "client"},
    {"client_body_timeout", 408, "client"},
    {"headers_too_large", 431, "client"},
    {"not_implemented", 501, "client"},
    {"http_version_not_supported", 505, "client"},
    {"upstream_connect_refused", 503, "upstream"},
    {"upstream_connect_timeout", 504, "upstream"},
    {"upstream_connect_failed", 503, "upstream"},
    {"upstream_reset", 502, "upstream"},
    {"upstream_bad_response", 502, "upstream"},
    {"upstream_timeout", 504, "upstream"},
    {"no_healthy_upstream", 503, "upstream"},
    {"upstream_pool_exhausted", 503, "proxy"},
    {"fault_abort", 503, "proxy"},  // the status is the fault's own (send_error's override)
    {"overflow", 503, "proxy"},
};
static_assert(sizeof(kInfo) / sizeof(kInfo[0]) == size_t(ProxyError::kCount));
}  // namespace

const ErrorInfo& error_info(ProxyError e) { return kInfo[size_t(e)]; }

ProxyError error_for_parse_status(int status) {
  switch (status) {
    case 431:
      return ProxyError::kHeadersTooLarge;
    case 501:
      return ProxyError::kNotImplemented;
    case 505:
      return ProxyError::kVersionNotSupported;
    default:
      return ProxyError::kBadRequest;
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string error_body(ProxyError e, std::string_view cluster, std::string_view upstream,
                       std::string_view request_id, std::string_view detail,
                       std::string_view fields) {
  std::string out = "{\"error\":";
  append_json_string(out, error_info(e).code);
  if (!fields.empty()) {
    out += ',';
    out += fields;
  }
  auto field = [&out](std::string_view name, std::string_view v) {
    if (v.empty()) return;
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, v);
  };
  field("hop", error_info(e).hop);
  field("cluster", cluster);
  field("upstream", upstream);
  field("request_id", request_id);
  field("detail", detail);
  out += "}\n";
  return out;
}

}  // namespace cw::proxy
