// Routes one admin request (method, target, body) to its endpoint; 404/405/400 as JSON.
// Thread contract: control thread; calls the hooks.
#pragma once

#include <string_view>

#include "admin/admin_server.h"

namespace cw::admin {

AdminServer::Response dispatch(const AdminHooks& hooks, std::string_view method,
                               std::string_view target, std::string_view body);

}  // namespace cw::admin
