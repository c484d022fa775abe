// JSON text for echo's bodies and option errors, appended to a caller's string so the
// keep-alive path allocates nothing once warm.
// Thread contract: pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cw::echo::detail {

void append_uint(std::string& out, uint64_t v);

// Appends s as a JSON string. Bytes >= 0x80 are escaped as \u00XX so the body is always valid
// JSON whatever a header holds.
void append_json_string(std::string& out, std::string_view s);

bool has_control_chars(std::string_view s);

}  // namespace cw::echo::detail
