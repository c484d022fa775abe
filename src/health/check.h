// One active health check of one host: a TCP connect, or an HTTP/1.1 GET whose response head is
// read with the strict h1 parser and judged against the expected statuses. No retries, no
// state: the monitor (monitor.h) schedules checks and keeps the verdicts.
// Thread contract: a check runs on the loop it is given (the control thread's) and touches
// nothing but its arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "runtime/event_loop.h"
#include "runtime/socket_address.h"
#include "runtime/task.h"
#include "runtime/tcp.h"

namespace cw::health {

struct CheckResult {
  bool ok = false;
  int status = 0;     // the HTTP status, when a response head was read
  std::string error;  // why it failed ("connect: Connection refused", "status 503", ...)
  int64_t duration_ms = 0;
};

// The largest response head a check reads; a health endpoint answers with a small one.
inline constexpr size_t kMaxCheckResponseHead = 8 * 1024;

// True when `status` falls in one of the ranges.
bool status_expected(const std::vector<config::HealthCheck::StatusRange>& ranges, int status);

// The request an HTTP check sends: GET path, Host, a User-Agent naming causeway, and
// Connection: close (each check is one connection, so a check also proves the host accepts).
std::string check_request(std::string_view path, std::string_view host);

// Runs one check of `addr` under cfg.timeout (connect, send and response head together).
// `conn` holds the connection while the check runs so that the owner can end it early with
// shutdown_both(); `cancelled` is read after the connect (which cannot be interrupted).
rt::Task<CheckResult> run_check(rt::EventLoop& loop, const config::HealthCheck& cfg,
                                rt::SocketAddress addr, std::string request, rt::TcpStream& conn,
                                const bool& cancelled);

}  // namespace cw::health
