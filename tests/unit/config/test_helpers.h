// Helpers shared by the config unit tests: an error dump for failure messages, a loader that
// expects success, and the smallest valid pieces of a config to build cases from.
// Thread contract: test code, one thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "config/load.h"

namespace cw::config::test {

// Every error, formatted, one a line.
inline std::string dump(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.format() + "\n";
  return out;
}

// Loads `yaml` (as "t.yaml") and expects no error.
inline std::shared_ptr<const Config> load_ok(std::string_view yaml) {
  LoadResult r = load_config_string(yaml, "t.yaml");
  EXPECT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.errors.empty()) << dump(r);
  return r.config;
}

// Lines 1-6: a listener with one route to `web`.
inline const std::string kListener =
    "listeners:\n"
    "  - name: edge\n"
    "    listen: 127.0.0.1:0\n"
    "    routes:\n"
    "      - match: { path_prefix: / }\n"
    "        cluster: web\n";
// Three lines: the `web` cluster.
inline const std::string kWeb =
    "clusters:\n"
    "  - name: web\n"
    "    endpoints: [127.0.0.1:9001]\n";

}  // namespace cw::config::test
