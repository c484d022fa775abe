// The loaded configuration as JSON for GET /api/v1/config: every model field, keyed and shaped
// as in causeway.yaml (durations as "3s"/"250ms"), so the output reads like the file it came from.
// Thread contract: pure functions; any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "config/model.h"

namespace cw::admin {

using Json = nlohmann::ordered_json;

// "0s", "250ms", "3s", "1.5s", "1m30s", "2h": parses back with config::parse_duration.
std::string format_duration(config::Duration d);

// The whole model (without "source"/"generation"; the endpoint adds those). Loads back as YAML,
// except that route names the loader defaulted ("edge/3") are shown and a file cannot spell them.
Json config_to_json(const config::Config& c);
Json listener_to_json(const config::Listener& l);
Json route_to_json(const config::Route& r);
Json match_to_json(const config::RouteMatch& m);
Json cluster_to_json(const config::Cluster& c);

}  // namespace cw::admin
