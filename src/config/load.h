// Loads causeway.yaml into a Config strictly; errors name file:line:column, key path, a hint.
// Thread contract: no shared state, never throws; the control thread calls it (start-up, reload).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"

namespace cw::config {

enum class ErrorKind {
  kInvalid,     // a value is wrong, missing or inconsistent
  kUnknownKey,  // key_path ends with the unknown key; format() names the enclosing map
  kSyntax,      // the YAML itself does not parse
  kIo,          // the file cannot be read (line and column are 0)
};

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 = not tied to a position
  int column = 0;
  std::string key_path;  // "listeners[0].routes[1].match.path_prefx"; empty for syntax errors
  std::string message;   // "unknown key 'path_prefx' (did you mean 'path_prefix'?)"
  ErrorKind kind = ErrorKind::kInvalid;

  // "causeway.yaml:12:7: listeners[0].routes[1].match: unknown key 'path_prefx' (did you mean
  // 'path_prefix'?)". Position and path are left out when absent.
  std::string format() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when there is any error
  std::vector<ConfigError> errors;       // ordered by position; at most ~100
  bool ok() const { return config != nullptr; }
};

// Reads and validates a file (at most 16 MiB). Config::source is set to `path`.
LoadResult load_config_file(const std::string& path);
// Validates YAML text; `source_name` is used as the file in errors and as Config::source.
LoadResult load_config_string(std::string_view yaml, const std::string& source_name = "<string>");

}  // namespace cw::config
