// Building admin responses: JSON bodies (never throwing on odd bytes) and the JSON error shape
// {"error": CODE, ...}. Thread contract: pure functions; any thread.
#pragma once

#include <string_view>

#include "admin/admin_server.h"
#include "admin/config_json.h"

namespace cw::admin {

using Response = AdminServer::Response;

// Compact JSON plus a newline; invalid UTF-8 in strings is replaced, not thrown on.
std::string dump_json(const Json& j);
Response json_reply(int status, const Json& j);
// {"error": code, ...fields}.
Response error_reply(int status, std::string_view code, Json fields = Json::object());

}  // namespace cw::admin
