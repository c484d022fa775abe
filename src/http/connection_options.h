// The Connection header's options (RFC 9110 7.6.1): close / keep-alive / upgrade, and the other
// field names it lists, which are hop-by-hop for this connection. One parser for the codec and
// the proxy, with the guards: a bounded number of listed names (a hostile list cannot make
// header filtering quadratic), and Host and Content-Length never strippable that way.
// Thread contract: a plain value over views into the head's header values; one request's.
#pragma once

#include <cstddef>
#include <string_view>

#include "http/message.h"

namespace cw::http {

class ConnectionOptions {
 public:
  static constexpr size_t kMaxListed = 16;

  // Reads every Connection field of `headers` (uses the interned tokens).
  static ConnectionOptions of(const HeaderMap& headers);
  // Adds one Connection field value's options.
  void add_value(std::string_view value);

  bool close() const { return close_; }
  bool keep_alive() const { return keep_alive_; }
  bool upgrade() const { return upgrade_; }
  // True when `name` was listed and may be dropped as hop-by-hop (never Host or
  // Content-Length; names past kMaxListed are ignored).
  bool lists(std::string_view name) const;
  size_t listed() const { return n_; }

 private:
  std::string_view names_[kMaxListed];
  size_t n_ = 0;
  bool close_ = false;
  bool keep_alive_ = false;
  bool upgrade_ = false;
};

}  // namespace cw::http
