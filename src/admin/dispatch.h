// Routes one admin request (method, target, body) to its endpoint; 404/405/400 as JSON. Every
// endpoint answers at once except POST /api/v1/reload, which waits for the reload hook (the
// workers' acknowledgements), and the registry (registry_api.h), whose changes wait for the store
// and whose blocking queries wait for a change; all as coroutines.
// Thread contract: control thread; calls the hooks.
#pragma once

#include <string_view>

#include "admin/admin_server.h"
#include "runtime/task.h"

namespace cw::admin {

// The views must stay valid until the task completes; counters may be null.
rt::Task<AdminServer::Response> dispatch(const AdminHooks* hooks, const AdminCounters* counters,
                                         std::string_view method, std::string_view target,
                                         std::string_view body);

}  // namespace cw::admin
