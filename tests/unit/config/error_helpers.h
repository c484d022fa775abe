// Helpers for the loader's error tests: load a config and expect exactly one error, and the
// small configs those tests vary one section of.
// Thread contract: test thread only.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config::test {

// Loads `yaml` and expects exactly one error.
inline ConfigError one_error(const std::string& yaml) {
  LoadResult r = load_config_string(yaml, "causeway.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.errors.size(), 1u) << dump(r);
  if (r.errors.empty()) return {};
  return r.errors[0];
}

#define EXPECT_CONFIG_ERROR(yaml, line_, column_, path_, message_) \
  do {                                                             \
    const ConfigError e_ = one_error(yaml);                        \
    EXPECT_EQ(e_.line, line_) << e_.format();                      \
    EXPECT_EQ(e_.column, column_) << e_.format();                  \
    EXPECT_EQ(e_.key_path, path_) << e_.format();                  \
    EXPECT_EQ(e_.message, message_) << e_.format();                \
  } while (0)

// A config whose first route (line 5 on) is `route`, indented by 6 spaces.
inline std::string with_route(const std::string& route) {
  return "listeners:\n"
         "  - name: edge\n"
         "    listen: 127.0.0.1:0\n"
         "    routes:\n" +
         route + kWeb;
}

// A config whose only cluster (line 7 on) is `cluster`; the route goes to `web`.
inline std::string with_cluster(const std::string& cluster) { return kListener + "clusters:\n" + cluster; }

}  // namespace cw::config::test
