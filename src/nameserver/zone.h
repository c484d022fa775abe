// Zone: the internal DNS server's answers (SPEC 5), computed once per registry change so that a
// query costs a parse, a hash lookup and a copy with the ID patched in. Built from a plain
// ZoneInput (the server fills it from the registry: this layer knows nothing of the registry).
// Each (name, type) keeps its records and its wire answers for four variants (UDP without
// EDNS, UDP with EDNS at 1232, TCP with and without EDNS) in several rotations of the
// records, so A/AAAA/SRV answers rotate per query. Anything else (negative answers, a client
// EDNS size below 1232, errors) is built per query from the same records.
// Thread contract: built on any thread, then immutable; shared by every worker through a
// shared_ptr<const Zone>; respond() is const and touches nothing shared.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dns/builder.h"
#include "dns/message.h"

namespace cw::nameserver {

struct ZoneInstance {
  std::string id;       // DNS label
  std::string address;  // IP literal
  uint16_t port = 0;
  uint16_t weight = 1;
  std::vector<std::string> tags;
  bool serving = true;  // passing and not ejected: only these are handed out
};

struct ZoneService {
  std::string name;  // DNS label
  std::vector<ZoneInstance> instances;
};

struct ZoneInput {
  std::string domain = "internal";
  uint32_t ttl = 5;     // seconds, every record and the negative TTL
  uint32_t serial = 0;  // the registry index
  // The DNS server's own addresses, for `ns.<domain>` (none when it listens on a wildcard).
  std::vector<std::string> ns_addresses;
  std::vector<ZoneService> services;
};

enum class Transport : uint8_t { kUdp, kTcp };

class Zone {
 public:
  static constexpr size_t kMaxRotations = 8;

  static std::shared_ptr<const Zone> build(const ZoneInput& in);

  // Writes the response to `query` into `out`; leaves `out` empty when nothing must be sent
  // (a response, or too short to answer). `rotation` picks the order of rotated answers (a
  // per-socket counter).
  void respond(std::string_view query, Transport t, uint32_t rotation, std::string& out) const {
    answer(query, t, rotation, out, nullptr);
  }
  // As respond(), for a server that forwards: a query for a name outside the domain (class IN,
  // not a zone transfer) is not refused but moved to `outside`, and true is returned with `out`
  // empty (the forwarder answers it).
  bool respond_or_forward(std::string_view query, Transport t, uint32_t rotation,
                          std::string& out, dns::Query& outside) const {
    return answer(query, t, rotation, out, &outside);
  }

  const std::string& domain() const { return domain_; }
  uint32_t serial() const { return serial_; }
  size_t names() const { return nodes_.size(); }

 private:
  struct RRset {
    std::vector<dns::Record> answers;
    std::vector<dns::Record> additional;  // in answer order (SRV targets' addresses)
    size_t rotations = 1;
    // [variant][rotation]: 0 UDP plain, 1 UDP EDNS 1232, 2 TCP plain, 3 TCP EDNS.
    std::array<std::vector<std::string>, 4> wire;
  };
  struct Node {
    std::unordered_map<uint16_t, RRset> sets;  // by type; kANY is the RFC 8482 answer
  };

  bool answer(std::string_view query, Transport t, uint32_t rotation, std::string& out,
              dns::Query* outside) const;
  static void precompute(const std::string& name, uint16_t type, RRset& set);
  static std::string build_wire(const dns::Query& q, const RRset& set, size_t rotation,
                                size_t limit);

  std::string domain_;
  uint32_t serial_ = 0;
  dns::Record soa_;
  std::unordered_map<std::string, Node> nodes_;  // by lowercased name, empty non-terminals too
};

}  // namespace cw::nameserver
