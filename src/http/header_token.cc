// The header token table (see header_token.h). Lookup switches on the length, then compares
// at most a few candidates case-insensitively: no hashing, no allocation.
// Thread contract: constant tables and pure functions; any thread.
#include "http/header_token.h"

#include <array>

#include "http/message.h"

namespace cw::http {
namespace {

constexpr uint8_t kHop = kHopByHop;
constexpr uint8_t kFrame = kFraming;
constexpr uint8_t kOurs = kProxyRestated;

constexpr std::array<HeaderTokenInfo, size_t(HeaderToken::kCount)> kInfo = {{
    {"", 0},
    {"Connection", kHop},
    {"Keep-Alive", kHop},
    {"Proxy-Connection", kHop},
    {"TE", kHop},
    {"Trailer", kHop},
    {"Transfer-Encoding", kHop | kFrame},
    {"Upgrade", kHop},
    {"Proxy-Authenticate", kHop},
    {"Proxy-Authorization", kHop},
    {"Content-Length", kFrame},
    {"Host", 0},
    {"Expect", kOurs},  // answered (100-continue) by the proxy, never forwarded
    {"Via", kOurs},
    {"X-Forwarded-For", kOurs},
    {"X-Forwarded-Proto", kOurs},
    {"X-Forwarded-Host", kOurs},
    {"X-Request-Id", kOurs},
    {"traceparent", kOurs},
    {"x-causeway-deadline", kOurs},
    {"grpc-timeout", kOurs},
    {"x-causeway-fault", kOurs},
    {"Cookie", 0},
    {"Content-Type", 0},
    {"Location", 0},
    {"Server-Timing", 0},
    {"x-causeway-trace", 0},
    {"x-causeway-error", 0},
    {"x-causeway-upstream", 0},
}};

constexpr std::array<char, 256> make_lower() {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) t[size_t(c)] = char(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return t;
}
constexpr std::array<char, 256> kLower = make_lower();

// `name` equals `lower` (a lowercase table name of the same length), ignoring ASCII case.
inline bool same(std::string_view name, std::string_view lower) {
  for (size_t i = 0; i < name.size(); ++i) {
    if (kLower[static_cast<unsigned char>(name[i])] != lower[i]) return false;
  }
  return true;
}

inline HeaderToken is(std::string_view name, std::string_view lower, HeaderToken t) {
  return same(name, lower) ? t : HeaderToken::kOther;
}

}  // namespace

const HeaderTokenInfo& header_info(HeaderToken t) { return kInfo[size_t(t)]; }

HeaderToken lookup_header(std::string_view name) {
  // On every header of every message: the length and the first letter pick at most one
  // candidate, compared once.
  using T = HeaderToken;
  if (name.empty()) return T::kOther;
  const char c = kLower[static_cast<unsigned char>(name[0])];
  switch (name.size()) {
    case 2: return is(name, "te", T::kTe);
    case 3: return is(name, "via", T::kVia);
    case 4: return is(name, "host", T::kHost);
    case 6: return c == 'e' ? is(name, "expect", T::kExpect) : is(name, "cookie", T::kCookie);
    case 7: return c == 'u' ? is(name, "upgrade", T::kUpgrade) : is(name, "trailer", T::kTrailer);
    case 8: return is(name, "location", T::kLocation);
    case 10:
      return c == 'c' ? is(name, "connection", T::kConnection)
                      : is(name, "keep-alive", T::kKeepAlive);
    case 11: return is(name, "traceparent", T::kTraceparent);
    case 12:
      if (c == 'x') return is(name, "x-request-id", T::kXRequestId);
      return c == 'g' ? is(name, "grpc-timeout", T::kGrpcTimeout)
                      : is(name, "content-type", T::kContentType);
    case 13: return is(name, "server-timing", T::kServerTiming);
    case 14: return is(name, "content-length", T::kContentLength);
    case 15: return is(name, "x-forwarded-for", T::kXForwardedFor);
    case 16:
      if (c == 'p') return is(name, "proxy-connection", T::kProxyConnection);
      if (name.size() > 2 && kLower[static_cast<unsigned char>(name[2])] == 'f')
        return is(name, "x-forwarded-host", T::kXForwardedHost);
      if (kLower[static_cast<unsigned char>(name[11])] == 't')
        return is(name, "x-causeway-trace", T::kXCausewayTrace);
      if (kLower[static_cast<unsigned char>(name[11])] == 'f')
        return is(name, "x-causeway-fault", T::kXCausewayFault);
      return is(name, "x-causeway-error", T::kXCausewayError);
    case 17:
      return c == 't' ? is(name, "transfer-encoding", T::kTransferEncoding)
                      : is(name, "x-forwarded-proto", T::kXForwardedProto);
    case 18: return is(name, "proxy-authenticate", T::kProxyAuthenticate);
    case 19:
      if (c == 'p') return is(name, "proxy-authorization", T::kProxyAuthorization);
      return kLower[static_cast<unsigned char>(name[11])] == 'd'
                 ? is(name, "x-causeway-deadline", T::kXCausewayDeadline)
                 : is(name, "x-causeway-upstream", T::kXCausewayUpstream);
    default: return T::kOther;
  }
}

}  // namespace cw::http
