// Strict HTTP/1.1 head parser (see parser.h). Two passes over the head: a SIMD scan for LFs
// finds the end (and refuses bare LFs early), then one fused validating pass: each scan runs
// over a character class and stops at the CR that ends its line, so the head's final
// CRLFCRLF bounds every scan without length checks.
// Thread contract: stateless; any thread.
#include "http/h1/parser.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "http/connection_options.h"
#include "http/h1/scan.h"
#include "http/h1/tokens.h"

namespace cw::http::h1 {
namespace {

constexpr int kBadRequest = 400;
constexpr int kTooLarge = 431;
constexpr int kNotImplemented = 501;
constexpr int kBadVersion = 505;
constexpr int kBadGateway = 502;
constexpr size_t kMaxLeadingEmptyLines = 8;

// Which status each kind of fault maps to; requests and responses differ.
struct Statuses {
  int bad;
  int too_large;
  int not_implemented;
  int bad_version;
};
constexpr Statuses kRequestStatuses{kBadRequest, kTooLarge, kNotImplemented, kBadVersion};
constexpr Statuses kResponseStatuses{kBadGateway, kBadGateway, kBadGateway, kBadGateway};

ParseResult fail(int status, const char* reason) {
  return ParseResult{ParseStatus::kError, 0, status, reason};
}

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Finds the end of the head: the index just past the first CRLFCRLF after `begin`, searching
// only the first max_bytes of data. Every LF must follow a CR; a bare LF is refused at once.
ParseResult find_head_end(std::string_view data, size_t begin, size_t scan_from, size_t max_bytes,
                          const Statuses& st, size_t& end) {
  const char* base = data.data();
  const size_t window = std::min(data.size(), max_bytes);
  if (scan_from > data.size()) scan_from = 0;  // a stale hint: rescan
  size_t pos = std::max(begin, scan_from > 3 ? scan_from - 3 : size_t{0});
  // 0: keep going, 1: end found, -1: bare LF.
  auto at_lf = [&](size_t i) {
    if (i == begin || base[i - 1] != '\r') return -1;
    if (i >= begin + 3 && base[i - 2] == '\n' && base[i - 3] == '\r') {
      end = i + 1;
      return 1;
    }
    return 0;
  };
  const int r = for_each_lf(base, pos, window, at_lf);
  if (r < 0) return fail(st.bad, "bare LF");
  if (r > 0) return ParseResult{ParseStatus::kDone};
  if (data.size() >= max_bytes) return fail(st.too_large, "head too large");
  return ParseResult{ParseStatus::kNeedMore};
}

bool all_in_class(std::string_view s, uint8_t cls) {
  for (char c : s) {
    if ((detail::kCharClass[static_cast<unsigned char>(c)] & cls) == 0) return false;
  }
  return true;
}

// Compares a validated token against a lowercase literal of the same length. OR-ing 0x20
// folds letters; for tchar/value characters it maps nothing else onto a literal's characters
// (only control characters, already refused, fold onto digits and '-').
inline bool equals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) | 0x20) != static_cast<unsigned char>(lower[i])) {
      return false;
    }
  }
  return true;
}

// "HTTP/1.0" or "HTTP/1.1" -> minor version; other well-formed versions -> bad_version.
ParseResult parse_version(std::string_view v, const Statuses& st, int& minor) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(v[5]) || v[6] != '.' ||
      !is_digit(v[7])) {
    return fail(st.bad, "malformed HTTP version");
  }
  if (v[5] != '1' || v[7] > '1') return fail(st.bad_version, "unsupported HTTP version");
  minor = v[7] - '0';
  return ParseResult{ParseStatus::kDone};
}

// 1-19 digits, at most 2^63-1. Refuses signs, spaces, lists, underscores, hex.
bool parse_content_length(std::string_view v, uint64_t& out) {
  if (v.empty() || v.size() > 19) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');  // 19 digits cannot overflow 64 bits
  }
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  out = n;
  return true;
}

// What the field lines say about framing and connection management.
struct Facts {
  size_t host_count = 0;
  std::string_view host;
  size_t cl_count = 0;
  std::string_view content_length;
  bool te = false;
  bool te_chunked_seen = false;  // "chunked" appeared
  bool te_chunked_last = false;  // ... and is the last coding so far
  bool te_chunked_twice = false;
  bool te_other = false;      // a coding other than chunked appeared
  bool te_malformed = false;  // empty element or non-token element
  ConnectionOptions connection;
  bool expect_continue = false;
  bool upgrade_header = false;
  bool framing_alias = false;  // Content_Length / Transfer_Encoding
};

void note_transfer_encoding(std::string_view value, Facts& f) {
  f.te = true;
  for_each_list_item(value, [&](std::string_view item) {
    if (item.empty() || !all_in_class(item, detail::kTchar)) {
      f.te_malformed = true;
    } else if (equals_lower(item, "chunked")) {
      if (f.te_chunked_seen) f.te_chunked_twice = true;
      f.te_chunked_seen = true;
      f.te_chunked_last = true;
    } else {
      f.te_other = true;
      f.te_chunked_last = false;
    }
  });
}

// "Content_Length" / "Transfer_Encoding": legal tokens, but servers that map '_' to '-'
// (CGI-style environments) would see framing the proxy did not.
bool underscore_alias(std::string_view name, std::string_view canonical) {
  bool underscore = false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '_' && canonical[i] == '-') {
      underscore = true;
    } else if (!iequals(name.substr(i, 1), canonical.substr(i, 1))) {
      return false;
    }
  }
  return underscore;
}

HeaderToken classify_field(std::string_view name, std::string_view value, Facts& f) {
  const HeaderToken t = lookup_header(name);
  switch (t) {
    case HeaderToken::kHost:
      ++f.host_count;
      f.host = value;
      break;
    case HeaderToken::kExpect:
      if (equals_lower(value, "100-continue")) f.expect_continue = true;
      break;
    case HeaderToken::kUpgrade:
      f.upgrade_header = true;
      break;
    case HeaderToken::kConnection:
      f.connection.add_value(value);
      break;
    case HeaderToken::kContentLength:
      ++f.cl_count;
      f.content_length = value;
      break;
    case HeaderToken::kTransferEncoding:
      note_transfer_encoding(value, f);
      break;
    case HeaderToken::kOther:
      if ((name.size() == 14 && underscore_alias(name, "content-length")) ||
          (name.size() == 17 && underscore_alias(name, "transfer-encoding"))) {
        f.framing_alias = true;
      }
      break;
    default:
      break;
  }
  return t;
}

// Parses the field lines starting at p up to and including the empty line that ends the head
// into `headers`, reusing the existing entries' string capacity.
ParseResult parse_fields(const char* p, const char* limit, const ParseLimits& limits,
                         const Statuses& st, HeaderMap& headers, Facts& f) {
  std::vector<Header>& items = headers.items();
  size_t n = 0;
  while (*p != '\r') {
    if (is_ows(*p)) return fail(st.bad, "obs-fold or whitespace before field name");
    const char* colon = scan(p, detail::kTchar);
    if (*colon != ':') {
      if (is_ows(*colon)) return fail(st.bad, "whitespace between field name and colon");
      return fail(st.bad, "invalid character in field name");
    }
    if (colon == p) return fail(st.bad, "empty field name");
    const char* v = colon + 1;
    while (is_ows(*v)) ++v;
    const char* cr = scan_value(v, limit);
    if (*cr != '\r' || cr[1] != '\n') return fail(st.bad, "control character in field value");
    const char* ve = cr;
    while (ve > v && is_ows(ve[-1])) --ve;
    if (n == limits.max_headers) return fail(st.too_large, "too many header fields");
    const std::string_view name(p, static_cast<size_t>(colon - p));
    const std::string_view value(v, static_cast<size_t>(ve - v));
    if (n < items.size()) {
      set_string(items[n].name, name);
      set_string(items[n].value, value);
    } else {
      items.push_back(Header{std::string(name), std::string(value)});
    }
    items[n].token = classify_field(name, value, f);
    ++n;
    p = cr + 2;
  }
  // find_head_end guarantees this CR starts the final CRLF.
  items.resize(n);
  return ParseResult{ParseStatus::kDone};
}

// Content-Length / Transfer-Encoding rules common to both directions (RFC 9112 6.1-6.3).
ParseResult check_length_fields(const Facts& f, int version_minor, const Statuses& st,
                                uint64_t& length) {
  if (f.framing_alias) return fail(st.bad, "underscore in a framing field name");
  if (f.te) {
    if (f.cl_count != 0) return fail(st.bad, "both content-length and transfer-encoding");
    if (version_minor == 0) return fail(st.bad, "transfer-encoding in HTTP/1.0");
    if (f.te_malformed) return fail(st.bad, "malformed transfer-encoding");
    if (f.te_chunked_twice) return fail(st.bad, "chunked applied more than once");
    if (!f.te_chunked_last) return fail(st.bad, "chunked is not the final transfer coding");
    if (f.te_other) return fail(st.not_implemented, "unsupported transfer coding");
  }
  if (f.cl_count > 1) return fail(st.bad, "multiple content-length");
  if (f.cl_count == 1 && !parse_content_length(f.content_length, length)) {
    return fail(st.bad, "malformed content-length");
  }
  return ParseResult{ParseStatus::kDone};
}

bool valid_host(std::string_view host) { return all_in_class(host, detail::kHostChar); }

// authority-form for CONNECT: host ":" port, port 1+ digits.
bool valid_authority_form(std::string_view t) {
  const size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size()) return false;
  if (t.front() == '[' && t[colon - 1] != ']') return false;
  const std::string_view port = t.substr(colon + 1);
  if (!valid_host(t.substr(0, colon))) return false;
  for (char c : port) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// Validates the request-target form against the method and Host; sets out.target.
ParseResult set_target(std::string_view method, std::string_view t, const Facts& f,
                       RequestHead& out) {
  const bool connect = method == "CONNECT";
  if (t.find('#') != std::string_view::npos) return fail(kBadRequest, "fragment in target");
  if (t.front() == '/') {
    if (connect) return fail(kBadRequest, "CONNECT requires authority-form");
    set_string(out.target, t);
    return ParseResult{ParseStatus::kDone};
  }
  if (t == "*") {
    if (method != "OPTIONS") return fail(kBadRequest, "asterisk-form only with OPTIONS");
    set_string(out.target, t);
    return ParseResult{ParseStatus::kDone};
  }
  if (connect) {
    if (!valid_authority_form(t)) return fail(kBadRequest, "invalid CONNECT target");
    set_string(out.target, t);
    return ParseResult{ParseStatus::kDone};
  }
  // absolute-form
  size_t scheme = 0;
  if (t.size() >= 7 && iequals(t.substr(0, 7), "http://"))
    scheme = 7;
  else if (t.size() >= 8 && iequals(t.substr(0, 8), "https://"))
    scheme = 8;
  else
    return fail(kBadRequest, "invalid request target");
  const std::string_view rest = t.substr(scheme);
  const size_t path_at = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_at);
  if (authority.empty() || !valid_host(authority)) {
    return fail(kBadRequest, "invalid authority in target");
  }
  if (f.host_count == 0 || !iequals(authority, f.host)) {
    return fail(kBadRequest, "target authority does not match Host");
  }
  const std::string_view path =
      path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
  out.target.clear();
  if (path.empty() || path.front() == '?') out.target.push_back('/');
  out.target.append(path);
  return ParseResult{ParseStatus::kDone};
}

}  // namespace

ParseResult parse_request_head(std::string_view data, const ParseLimits& limits, RequestHead& out,
                               size_t scan_from) {
  const Statuses& st = kRequestStatuses;
  // RFC 9112 2.2: ignore empty lines before the request line (a few; more is abuse, and a
  // bounded skip keeps every call cheap when the head arrives byte by byte).
  size_t begin = 0;
  while (begin + 1 < data.size() && data[begin] == '\r' && data[begin + 1] == '\n') {
    begin += 2;
    if (begin > 2 * kMaxLeadingEmptyLines) return fail(kBadRequest, "too many empty lines");
  }

  size_t end = 0;
  ParseResult r = find_head_end(data, begin, scan_from, limits.max_header_bytes, st, end);
  if (r.status != ParseStatus::kDone) return r;

  // Request line: method SP request-target SP HTTP-version CRLF, single spaces.
  const char* const line = data.data() + begin;
  const char* p = scan(line, detail::kTchar);
  const std::string_view method(line, static_cast<size_t>(p - line));
  if (*p != ' ') return fail(kBadRequest, "invalid method");
  if (method.empty()) return fail(kBadRequest, "malformed request line");
  const char* const t = p + 1;
  p = scan_target(t, data.data() + end);
  const std::string_view target(t, static_cast<size_t>(p - t));
  if (target.empty()) return fail(kBadRequest, "malformed request line");
  if (*p != ' ') {
    if (*p == '\r') return fail(kBadRequest, "missing HTTP version");
    return fail(kBadRequest, "invalid character in target");
  }
  const char* const v = p + 1;
  p = scan(v, detail::kTargetChar);
  if (*p != '\r' || p[1] != '\n') return fail(kBadRequest, "malformed HTTP version");
  int minor = 1;
  r = parse_version(std::string_view(v, static_cast<size_t>(p - v)), st, minor);
  if (r.status != ParseStatus::kDone) return r;

  Facts f;
  r = parse_fields(p + 2, data.data() + end, limits, st, out.headers, f);
  if (r.status != ParseStatus::kDone) return r;

  if (f.host_count > 1) return fail(kBadRequest, "multiple Host");
  if (f.host_count == 0 && minor == 1) return fail(kBadRequest, "missing Host");
  if (!valid_host(f.host)) return fail(kBadRequest, "invalid Host");
  uint64_t length = 0;
  r = check_length_fields(f, minor, st, length);
  if (r.status != ParseStatus::kDone) return r;
  r = set_target(method, target, f, out);
  if (r.status != ParseStatus::kDone) return r;

  set_string(out.method, method);
  out.version_minor = minor;
  set_string(out.host, f.host);
  if (f.te)
    out.body = BodyFraming{BodyKind::kChunked, 0};
  else if (f.cl_count == 1)
    out.body = BodyFraming{BodyKind::kContentLength, length};
  else
    out.body = BodyFraming{BodyKind::kNone, 0};
  out.keep_alive =
      minor == 1 ? !f.connection.close() : (f.connection.keep_alive() && !f.connection.close());
  out.expect_continue = minor == 1 && f.expect_continue;
  out.upgrade = f.connection.upgrade() && f.upgrade_header;
  return ParseResult{ParseStatus::kDone, end};
}

ParseResult parse_response_head(std::string_view data, const ParseLimits& limits,
                                std::string_view request_method, ResponseHead& out,
                                size_t scan_from) {
  const Statuses& st = kResponseStatuses;
  size_t end = 0;
  ParseResult r = find_head_end(data, 0, scan_from, limits.max_header_bytes, st, end);
  if (r.status != ParseStatus::kDone) return r;

  // Status line: HTTP-version SP 3DIGIT SP [reason-phrase] CRLF (the second SP may be absent).
  const char* const line = data.data();
  const char* p = scan(line, detail::kTargetChar);
  if (*p != ' ') return fail(kBadGateway, "malformed status line");
  int minor = 1;
  r = parse_version(std::string_view(line, static_cast<size_t>(p - line)), st, minor);
  if (r.status != ParseStatus::kDone) return r;
  ++p;
  // Each read below happens only after a digit, so it stays before the line's CR.
  if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2])) {
    return fail(kBadGateway, "malformed status code");
  }
  const int status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
  if (status < 100 || status > 599) return fail(kBadGateway, "status code out of range");
  p += 3;
  std::string_view reason;
  if (*p == ' ') {
    const char* const rs = p + 1;
    p = scan_value(rs, data.data() + end);
    reason = std::string_view(rs, static_cast<size_t>(p - rs));
  }
  if (*p != '\r' || p[1] != '\n') return fail(kBadGateway, "malformed status line");

  Facts f;
  r = parse_fields(p + 2, data.data() + end, limits, st, out.headers, f);
  if (r.status != ParseStatus::kDone) return r;
  uint64_t length = 0;
  r = check_length_fields(f, minor, st, length);
  if (r.status != ParseStatus::kDone) return r;

  out.status = status;
  set_string(out.reason, reason);
  out.version_minor = minor;
  out.keep_alive =
      minor == 1 ? !f.connection.close() : (f.connection.keep_alive() && !f.connection.close());
  const bool no_body = status < 200 || status == 204 || status == 304 || request_method == "HEAD" ||
                       (request_method == "CONNECT" && status < 300);
  if (no_body) {
    out.body = BodyFraming{BodyKind::kNone, 0};
  } else if (f.te) {
    out.body = BodyFraming{BodyKind::kChunked, 0};
  } else if (f.cl_count == 1) {
    out.body = BodyFraming{BodyKind::kContentLength, length};
  } else {
    out.body = BodyFraming{BodyKind::kUntilClose, 0};
    out.keep_alive = false;
  }
  return ParseResult{ParseStatus::kDone, end};
}

}  // namespace cw::http::h1
