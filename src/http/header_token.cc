// The header token table (see header_token.h). Lookup switches on the length, then compares
// at most a few candidates case-insensitively: no hashing, no allocation.
// Thread contract: constant tables and pure functions; any thread.
#include "http/header_token.h"

#include <array>
#include <cstring>

#include "http/message.h"

namespace cw::http {
namespace {

constexpr uint8_t kHop = kHopByHop;
constexpr uint8_t kFrame = kFraming;
constexpr uint8_t kOurs = kProxyRestated;

}  // namespace

constexpr std::array<HeaderTokenInfo, size_t(HeaderToken::kCount)> kHeaderTable = {{
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

namespace {

// same() below folds case with one OR per word, which is exact only for letters, digits
// and '-': the names of the table keep to those.
constexpr bool foldable_names() {
  for (const HeaderTokenInfo& i : kHeaderTable) {
    for (char c : i.name) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
        return false;
    }
  }
  return true;
}
static_assert(foldable_names(), "header table names: letters, digits and '-' only");

constexpr std::array<char, 256> make_lower() {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) t[size_t(c)] = char(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return t;
}
constexpr std::array<char, 256> kLower = make_lower();

// One word of `name` against the same word of a table name (lowercase letters, digits, '-'):
// a letter matches in either case (OR 0x20, only where the table has a letter; any other
// byte has bit 6 clear, so it is compared exactly).
template <class W>
inline bool word_same(const char* name, const char* lower) {
  W w, l;
  std::memcpy(&w, name, sizeof w);
  std::memcpy(&l, lower, sizeof l);
  const W fold = W((l & W(0x4040404040404040ull)) >> 1);  // 0x20 in each letter's byte
  return W(w | fold) == l;
}

// `name` equals `lower` (a table name of the same length, 2 to 19 bytes), ignoring ASCII case:
// a few overlapping word compares instead of a loop over bytes.
inline bool same(std::string_view name, std::string_view lower) {
  const size_t n = name.size();
  const char* a = name.data();
  const char* l = lower.data();
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (!word_same<uint64_t>(a + i, l + i)) return false;
    }
    return word_same<uint64_t>(a + n - 8, l + n - 8);
  }
  if (n >= 4) return word_same<uint32_t>(a, l) && word_same<uint32_t>(a + n - 4, l + n - 4);
  return word_same<uint16_t>(a, l) && word_same<uint16_t>(a + n - 2, l + n - 2);
}

inline HeaderToken is(std::string_view name, std::string_view lower, HeaderToken t) {
  return same(name, lower) ? t : HeaderToken::kOther;
}

}  // namespace

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
