// The registry API of SPEC 5 on the admin listener: /api/v1/services and below (register,
// deregister, heartbeat, list, show, blocking queries with ?index=N&wait=D). Every answer
// carries X-Causeway-Index; a bad call is 400 JSON naming the field and changes nothing; a
// change is answered once the store has made it durable.
// Thread contract: control thread (the registry's loop); a blocking query suspends the
// connection's coroutine, never the thread.
#pragma once

#include <string_view>

#include "admin/admin_server.h"
#include "admin/config_json.h"
#include "registry/registry.h"
#include "runtime/task.h"

namespace cw::admin {

// True for /api/v1/services and every path below it.
bool is_registry_path(std::string_view path);

// One registry call. `reg` null: the registry is not configured (404 registry_disabled). The
// views must stay valid until the task completes.
rt::Task<AdminServer::Response> registry_api(registry::Registry* reg, std::string_view method,
                                             std::string_view target, std::string_view body);

// One instance as the API shows it: the registration plus health, ejection and indexes.
Json registry_instance_json(const registry::Entry& e);

}  // namespace cw::admin
