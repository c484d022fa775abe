// The page at GET / on the admin listener: what the admin API offers, with links.
// Thread contract: pure function; any thread.
#pragma once

#include <string>
#include <string_view>

namespace cw::admin {

std::string index_page(std::string_view version);

}  // namespace cw::admin
