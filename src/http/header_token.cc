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
    {"Cookie", 0},
    {"Content-Type", 0},
    {"Location", 0},
    {"Server-Timing", 0},
    {"x-causeway-trace", 0},
    {"x-causeway-error", 0},
    {"x-causeway-upstream", 0},
}};

HeaderToken match(std::string_view name, std::initializer_list<HeaderToken> candidates) {
  for (HeaderToken t : candidates) {
    if (iequals(name, kInfo[size_t(t)].name)) return t;
  }
  return HeaderToken::kOther;
}

}  // namespace

const HeaderTokenInfo& header_info(HeaderToken t) { return kInfo[size_t(t)]; }

HeaderToken lookup_header(std::string_view name) {
  using T = HeaderToken;
  switch (name.size()) {
    case 2:
      return match(name, {T::kTe});
    case 3:
      return match(name, {T::kVia});
    case 4:
      return match(name, {T::kHost});
    case 6:
      return match(name, {T::kExpect, T::kCookie});
    case 7:
      return match(name, {T::kUpgrade, T::kTrailer});
    case 8:
      return match(name, {T::kLocation});
    case 10:
      return match(name, {T::kConnection, T::kKeepAlive});
    case 11:
      return match(name, {T::kTraceparent});
    case 12:
      return match(name, {T::kXRequestId, T::kContentType});
    case 13:
      return match(name, {T::kServerTiming});
    case 14:
      return match(name, {T::kContentLength});
    case 15:
      return match(name, {T::kXForwardedFor});
    case 16:
      return match(
          name, {T::kProxyConnection, T::kXForwardedHost, T::kXCausewayTrace, T::kXCausewayError});
    case 17:
      return match(name, {T::kTransferEncoding, T::kXForwardedProto});
    case 18:
      return match(name, {T::kProxyAuthenticate});
    case 19:
      return match(name, {T::kProxyAuthorization, T::kXCausewayUpstream});
    default:
      return T::kOther;
  }
}

}  // namespace cw::http
