// libFuzzer target: the request-header grammars the proxy reads from clients: x-causeway-fault
// (proxy/fault.h), x-causeway-deadline and grpc-timeout (resilience/deadline.h). The first
// byte picks the parser. Each must accept or refuse without crashing, and what it accepts must
// be in range.
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/fault.h"
#include "resilience/deadline.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view v(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      cw::proxy::FaultRequest r;
      if (cw::proxy::parse_fault_header(v, r) == nullptr) {
        check(r.abort_status == 0 || (r.abort_status >= 200 && r.abort_status <= 599));
      }
      break;
    }
    case 1:
      if (auto ms = cw::resilience::parse_deadline_ms(v)) {
        check(*ms >= 0 && *ms <= cw::resilience::kMaxDeadlineMs);
      }
      break;
    default:
      if (auto ms = cw::resilience::parse_grpc_timeout_ms(v)) {
        check(*ms >= 0 && *ms <= cw::resilience::kMaxDeadlineMs);
        char buf[12];
        const size_t n = cw::resilience::format_grpc_timeout(*ms, buf);
        auto back = cw::resilience::parse_grpc_timeout_ms(std::string_view(buf, n));
        check(back && *back >= *ms);  // what we state upstream reads back, never shorter
      }
      break;
  }
  return 0;
}
