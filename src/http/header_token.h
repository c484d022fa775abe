// Interned header names: the one table of the field names the codecs and the proxy act on,
// each with flags saying how a proxy treats it (h2o's token table, RFC 9110 7.6.1). The parser
// interns each name once; everyone after compares tokens, not strings.
// Thread contract: constant tables and pure functions; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cw::http {

enum class HeaderToken : uint8_t {
  kOther = 0,  // a name the table does not know
  // Hop-by-hop (RFC 9110 7.6.1, plus the legacy Keep-Alive and Proxy-Connection).
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kTrailer,
  kTransferEncoding,
  kUpgrade,
  kProxyAuthenticate,
  kProxyAuthorization,
  // Framing and routing.
  kContentLength,
  kHost,
  kExpect,
  // Written by the proxy itself on the way upstream (the client's value is read, not copied).
  kVia,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedHost,
  kXRequestId,
  kTraceparent,
  kXCausewayDeadline,  // the remaining budget (ms), restated per try
  kGrpcTimeout,        // gRPC's deadline, restated per try when the client sent one
  kXCausewayFault,  // a trusted client's fault request: read by the proxy, never forwarded
  // Read by the proxy, forwarded as they are.
  kCookie,
  kContentType,
  kLocation,
  kServerTiming,
  kXCausewayTrace,
  kXCausewayError,
  kXCausewayUpstream,
  kCount,
};

// How a proxy treats a field.
enum HeaderFlag : uint8_t {
  kHopByHop = 1,       // meaningful for one connection only: never forwarded as is
  kFraming = 2,        // delimits the body: restated by whoever frames the body next
  kProxyRestated = 4,  // the proxy writes its own value upstream (it may use the client's)
};

struct HeaderTokenInfo {
  std::string_view name;  // canonical spelling, for writing
  uint8_t flags;
};

// The table itself, by token; defined in header_token.cc. Declared here so the checks below
// inline: they run on every field of every head the proxy writes or strips.
extern const std::array<HeaderTokenInfo, size_t(HeaderToken::kCount)> kHeaderTable;

// Case-insensitive lookup; kOther for a name outside the table.
HeaderToken lookup_header(std::string_view name);
inline const HeaderTokenInfo& header_info(HeaderToken t) { return kHeaderTable[size_t(t)]; }
inline bool header_has(HeaderToken t, uint8_t flags) { return (header_info(t).flags & flags) != 0; }

}  // namespace cw::http
