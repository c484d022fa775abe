// libFuzzer target: the DNS server's answer path (Zone::respond) on arbitrary bytes, over UDP
// and TCP, against a zone with services, tags, IPv6 and a service too big for UDP. Beyond "no
// crash, no UB": every answer parses back, keeps the query's ID, and fits its transport.
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dns/builder.h"
#include "dns/message.h"
#include "nameserver/zone.h"

namespace {

using namespace cw;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::shared_ptr<const nameserver::Zone> make_zone() {
  nameserver::ZoneInput in;
  in.serial = 9;
  in.ns_addresses = {"127.0.0.1", "::1"};
  nameserver::ZoneService api{"api", {}};
  api.instances.push_back({"a1", "127.0.0.2", 80, 5, {"canary"}, true});
  api.instances.push_back({"a2", "::2", 81, 1, {}, true});
  api.instances.push_back({"a3", "127.0.0.4", 82, 1, {"old"}, false});
  in.services.push_back(api);
  nameserver::ZoneService big{"big", {}};
  for (int i = 0; i < 80; ++i) {
    big.instances.push_back({"b" + std::to_string(i), "10.0.1." + std::to_string(i + 1),
                             uint16_t(2000 + i), 1, {}, true});
  }
  in.services.push_back(big);
  return nameserver::Zone::build(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto zone = make_zone();
  const std::string_view q(reinterpret_cast<const char*>(data), size);
  std::string out;
  for (auto t : {nameserver::Transport::kUdp, nameserver::Transport::kTcp}) {
    zone->respond(q, t, uint32_t(size), out);
    if (out.empty()) continue;
    check(size >= 2 && out[0] == q[0] && out[1] == q[1]);
    check(out.size() <= (t == nameserver::Transport::kUdp ? dns::kEdnsPayload : dns::kTcpLimit));
    dns::Message m;
    check(dns::parse_message(out, m) == nullptr);
    check(m.header.qr);
  }
  return 0;
}
