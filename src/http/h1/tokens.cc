// Field-name/value validation and hop-by-hop header removal (see tokens.h).
// Thread contract: pure functions; any thread.
#include "http/h1/tokens.h"

#include <algorithm>
#include <iterator>
#include <vector>

namespace cw::http::h1 {
namespace {

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Names listed in Connection headers; bounded so a hostile header cannot make the
// per-header check quadratic.
constexpr size_t kMaxConnectionTokens = 16;

}  // namespace

bool is_valid_field_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_tchar);
}

bool is_valid_field_value(std::string_view value) {
  if (!value.empty() && (is_ows(value.front()) || is_ows(value.back()))) return false;
  return std::all_of(value.begin(), value.end(), is_value_char);
}

bool is_hop_by_hop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    case 18:
      return iequals(name, "proxy-authenticate");
    case 19:
      return iequals(name, "proxy-authorization");
    default:
      return false;
  }
}

void remove_hop_by_hop(HeaderMap& headers) {
  std::string_view listed[kMaxConnectionTokens];
  size_t n_listed = 0;
  for (const Header& h : headers) {
    if (!iequals(h.name, "connection")) continue;
    std::string_view list = h.value;
    while (!list.empty() && n_listed < kMaxConnectionTokens) {
      size_t comma = list.find(',');
      std::string_view item = trim_ows(list.substr(0, comma));
      if (!item.empty() && !is_hop_by_hop(item) && !iequals(item, "host") &&
          !iequals(item, "content-length")) {
        listed[n_listed++] = item;
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  auto drop = [&](const Header& h) {
    if (is_hop_by_hop(h.name)) return true;
    for (size_t i = 0; i < n_listed; ++i) {
      if (iequals(h.name, listed[i])) return true;
    }
    return false;
  };
  // The views in `listed` point into Connection values; std::remove_if only moves entries
  // after it decided on them, and Connection entries are themselves dropped, so decide
  // everything first.
  std::vector<Header>& items = headers.items();
  bool dropped_small[128];
  std::vector<bool> dropped_big;
  const bool small = items.size() <= std::size(dropped_small);
  if (!small) dropped_big.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (small)
      dropped_small[i] = drop(items[i]);
    else
      dropped_big[i] = drop(items[i]);
  }
  auto dropped = [&](size_t i) -> bool { return small ? dropped_small[i] : dropped_big[i]; };
  size_t out = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (dropped(i)) continue;
    if (out != i) items[out] = std::move(items[i]);
    ++out;
  }
  items.resize(out);
}

}  // namespace cw::http::h1
