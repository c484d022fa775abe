// Logging set-up: text or JSON lines on stderr.
// Thread contract: init() at start-up, before workers start.
#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace cw::log {

bool init(const std::string& level, Format format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  auto logger = spdlog::stderr_logger_mt("causeway");
  spdlog::set_default_logger(logger);
  spdlog::set_level(lvl);
  if (format == Format::kJson) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","thread":%t,"msg":"%v"})");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%t] %v");
  }
  return true;
}

}  // namespace cw::log
