// Connection options parsing (see connection_options.h).
// Thread contract: pure functions; any thread.
#include "http/connection_options.h"

namespace cw::http {

ConnectionOptions ConnectionOptions::of(const HeaderMap& headers) {
  ConnectionOptions o;
  for (const Header& h : headers) {
    if (h.token == HeaderToken::kConnection) o.add_value(h.value);
  }
  return o;
}

void ConnectionOptions::add_value(std::string_view value) {
  for_each_list_item(value, [this](std::string_view item) {
    if (item.empty()) return;
    const HeaderToken t = lookup_header(item);
    if (t == HeaderToken::kUpgrade) upgrade_ = true;
    if (t == HeaderToken::kKeepAlive) keep_alive_ = true;
    if (t == HeaderToken::kOther && iequals(item, "close")) {
      close_ = true;
      return;
    }
    // Hop-by-hop names are dropped anyway; Host and Content-Length a client must not be able
    // to strip this way.
    if (header_has(t, kHopByHop) || t == HeaderToken::kHost || t == HeaderToken::kContentLength)
      return;
    if (n_ < kMaxListed) names_[n_++] = item;
  });
}

bool ConnectionOptions::lists(std::string_view name) const {
  for (size_t i = 0; i < n_; ++i) {
    if (iequals(names_[i], name)) return true;
  }
  return false;
}

}  // namespace cw::http
