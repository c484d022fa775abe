// One health check over the runtime's connect and timers. Thread contract: see check.h.
#include "health/check.h"

#include <algorithm>

#include "http/h1/parser.h"

namespace cw::health {
namespace {

CheckResult failed(std::string why) {
  CheckResult r;
  r.error = std::move(why);
  return r;
}

std::string io_error(std::string_view step, const std::error_code& ec) {
  if (ec == std::errc::timed_out) return std::string(step) + ": timeout";
  return std::string(step) + ": " + ec.message();
}

// The HTTP part once connected: send the request, read and judge the response head.
rt::Task<CheckResult> http_exchange(const config::HealthCheck& cfg, const std::string& request,
                                    rt::TcpStream& conn, int64_t deadline) {
  if (auto w = co_await conn.write(request, deadline); !w) {
    co_return failed(io_error("send", w.error()));
  }
  std::string buf(kMaxCheckResponseHead, '\0');
  size_t have = 0;
  size_t scan = 0;
  http::ResponseHead head;
  const http::h1::ParseLimits limits{kMaxCheckResponseHead, 100};
  for (;;) {
    if (have > 0) {
      const std::string_view data(buf.data(), have);
      auto pr = http::h1::parse_response_head(data, limits, "GET", head, scan);
      if (pr.status == http::h1::ParseStatus::kDone) {
        if (head.status >= 100 && head.status < 200) {  // interim: the final answer follows
          buf.erase(0, pr.consumed);
          buf.resize(kMaxCheckResponseHead, '\0');
          have -= pr.consumed;
          scan = 0;
          continue;
        }
        CheckResult r;
        r.status = head.status;
        r.ok = status_expected(cfg.expected_statuses, head.status);
        if (!r.ok) r.error = "status " + std::to_string(head.status);
        co_return r;
      }
      if (pr.status == http::h1::ParseStatus::kError) {
        co_return failed(std::string("bad response: ") + pr.error_reason);
      }
      scan = have;
    }
    if (have == buf.size()) co_return failed("bad response: head too large");
    auto n = co_await conn.read(buf.data() + have, buf.size() - have, deadline);
    if (!n) co_return failed(io_error("read", n.error()));
    if (*n == 0) co_return failed("read: connection closed before a response");
    have += *n;
  }
}

}  // namespace

bool status_expected(const std::vector<config::HealthCheck::StatusRange>& ranges, int status) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [status](const auto& r) { return status >= r.lo && status <= r.hi; });
}

std::string check_request(std::string_view path, std::string_view host) {
  std::string out;
  out.reserve(96 + path.size() + host.size());
  out += "GET ";
  out += path;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\nUser-Agent: causeway-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  return out;
}

rt::Task<CheckResult> run_check(rt::EventLoop& loop, const config::HealthCheck& cfg,
                                rt::SocketAddress addr, std::string request, rt::TcpStream& conn,
                                const bool& cancelled) {
  const int64_t started = loop.now_ms();
  const int64_t timeout = std::max<int64_t>(1, cfg.timeout.count());
  const int64_t deadline = started + timeout;
  CheckResult r;
  auto c = co_await rt::connect(loop, addr, timeout);
  if (!c) {
    r = failed(io_error("connect", c.error()));
  } else if (cancelled) {
    r = failed("cancelled");
  } else if (cfg.kind == config::HealthCheck::Kind::kTcp) {
    r.ok = true;  // the connect is the check
  } else {
    conn = std::move(*c);
    r = co_await http_exchange(cfg, request, conn, deadline);
    conn.close();
  }
  r.duration_ms = loop.now_ms() - started;
  co_return r;
}

}  // namespace cw::health
