// Logging: a thin layer over spdlog so the rest of the code names one place.
// Thread contract: any thread; spdlog's default logger is thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace cw::log {

enum class Format { kText, kJson };

// Configures the process-wide logger (stderr). Called once at start-up.
// level: trace|debug|info|warn|error|off. Returns false on an unknown level.
bool init(const std::string& level, Format format);

}  // namespace cw::log

#define CW_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define CW_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define CW_INFO(...) ::spdlog::info(__VA_ARGS__)
#define CW_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define CW_ERROR(...) ::spdlog::error(__VA_ARGS__)
