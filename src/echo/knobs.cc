// Query knobs. Thread contract: see knobs.h.
#include "echo/knobs.h"

#include <charconv>

#include "config/units.h"
#include "config/latency.h"

namespace cw::echo::detail {

const char* parse_knobs(std::string_view q, Knobs& k) {
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view val =
        eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (key == "echo_headers") {
      k.echo_headers = val == "1" || val == "true";
    } else if (key == "status") {
      int s = 0;
      auto r = std::from_chars(val.data(), val.data() + val.size(), s);
      if (val.empty() || r.ec != std::errc() || r.ptr != val.data() + val.size() || s < 200 ||
          s > 599) {
        return "status must be a number from 200 to 599";
      }
      k.status = s;
    } else if (key == "size") {
      auto v = config::parse_size(val);
      if (!v || *v > kMaxSize) return "size must be a byte count up to 1GiB";
      k.has_size = true;
      k.size = *v;
    } else if (key == "delay") {
      int64_t ms = -1;
      auto r = std::from_chars(val.data(), val.data() + val.size(), ms);
      if (val.empty() || r.ec != std::errc() || r.ptr != val.data() + val.size()) {
        auto d = config::parse_duration(val);
        ms = d ? int64_t(d->count()) : -1;
      }
      if (ms < 0 || ms > kMaxLatencyMs) return "delay must be a duration such as 20ms, at most 10m";
      k.delay_ms = ms;
    }
  }
  return nullptr;
}

}  // namespace cw::echo::detail
