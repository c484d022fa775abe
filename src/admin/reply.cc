// Admin response helpers. Thread contract: see reply.h.
#include "admin/reply.h"

namespace cw::admin {

std::string dump_json(const Json& j) {
  std::string out = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  out += '\n';
  return out;
}

Response json_reply(int status, const Json& j) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = dump_json(j);
  return r;
}

Response error_reply(int status, std::string_view code, Json fields) {
  Json j = {{"error", code}};
  for (auto& [k, v] : fields.items()) j[k] = std::move(v);
  return json_reply(status, j);
}

}  // namespace cw::admin
