// Protocol-neutral HTTP message heads: what the H1 codec (and later H2) produce and consume.
// Thread contract: plain values; owned by one worker's request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_token.h"

namespace cw::http {

struct Header {
  std::string name;  // as received; compare case-insensitively
  std::string value;
  HeaderToken token = HeaderToken::kOther;  // interned name, set by the parser and add()
};

// Ordered multimap of headers with case-insensitive lookup. Small (typically < 20 entries),
// so linear scans beat hashing.
class HeaderMap {
 public:
  void add(std::string_view name, std::string_view value);
  // First value for name, or nullptr.
  const std::string* get(std::string_view name) const;
  std::string_view get_or(std::string_view name, std::string_view fallback) const;
  size_t count(std::string_view name) const;
  // Replaces every entry named name by one entry (appended if absent).
  void set(std::string_view name, std::string_view value);
  // Removes every entry named name; returns how many.
  size_t remove(std::string_view name);
  // True if the comma-separated list header `name` holds token (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const;

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  std::vector<Header>& items() { return items_; }
  const std::vector<Header>& items() const { return items_; }

 private:
  std::vector<Header> items_;
};

bool iequals(std::string_view a, std::string_view b);

// Calls fn(item) for each comma-separated element of a list field, trimmed of OWS (empty
// elements included, so a strict caller can refuse them).
template <class Fn>
void for_each_list_item(std::string_view list, Fn&& fn) {
  for (;;) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    fn(item);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

enum class BodyKind : uint8_t {
  kNone,           // no body (GET without length, 204, 304, HEAD response, 1xx)
  kContentLength,  // exactly `length` bytes
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // response only: body runs until the upstream closes
};

struct BodyFraming {
  BodyKind kind = BodyKind::kNone;
  uint64_t length = 0;  // for kContentLength
};

struct RequestHead {
  std::string method;     // token, e.g. "GET"
  std::string target;     // origin-form "/path?query", or authority-form for CONNECT, or "*"
  int version_minor = 1;  // HTTP/1.<minor>; 0 or 1
  HeaderMap headers;
  std::string host;  // the single Host header's value (required for HTTP/1.1)
  BodyFraming body;
  bool keep_alive = true;        // from version and Connection
  bool expect_continue = false;  // Expect: 100-continue
  bool upgrade = false;          // Connection: upgrade with an Upgrade header (e.g. websocket)

  std::string_view path() const;   // target up to '?'
  std::string_view query() const;  // after '?', or empty
};

struct ResponseHead {
  int status = 200;
  std::string reason;
  int version_minor = 1;
  HeaderMap headers;
  BodyFraming body;
  bool keep_alive = true;  // false if the upstream says close or is HTTP/1.0 without keep-alive
};

// Standard reason phrase for a status code ("OK", "Bad Gateway", ...); "Unknown" if none.
std::string_view reason_phrase(int status);

}  // namespace cw::http
