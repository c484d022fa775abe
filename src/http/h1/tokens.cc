// Field-name/value validation and hop-by-hop header removal (see tokens.h).
// Thread contract: pure functions; any thread.
#include "http/h1/tokens.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "http/connection_options.h"

namespace cw::http::h1 {
namespace {

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

}  // namespace

bool is_valid_field_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_tchar);
}

bool is_valid_field_value(std::string_view value) {
  if (!value.empty() && (is_ows(value.front()) || is_ows(value.back()))) return false;
  return std::all_of(value.begin(), value.end(), is_value_char);
}

bool is_hop_by_hop(std::string_view name) { return header_has(lookup_header(name), kHopByHop); }

void remove_hop_by_hop(HeaderMap& headers) {
  // Most heads carry no hop-by-hop field, so no Connection list either: nothing to drop.
  if (std::none_of(headers.begin(), headers.end(),
                   [](const Header& h) { return header_has(h.token, kHopByHop); }))
    return;
  // The listed names are views into Connection values, which are themselves dropped: decide
  // for every entry before moving any.
  const ConnectionOptions conn = ConnectionOptions::of(headers);
  std::vector<Header>& items = headers.items();
  bool dropped_small[128];
  std::vector<bool> dropped_big;
  const bool small = items.size() <= std::size(dropped_small);
  if (!small) dropped_big.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const bool d =
        header_has(items[i].token, kHopByHop) || (conn.listed() != 0 && conn.lists(items[i].name));
    if (small)
      dropped_small[i] = d;
    else
      dropped_big[i] = d;
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
