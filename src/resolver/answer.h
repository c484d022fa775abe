// Answer: what one DNS response says about one (name, type), reduced to what a resolver caches
// and hands out: the addresses or SRV records at the end of the CNAME chain, the TTL to honour,
// or a negative answer with its RFC 2308 TTL. Pure: works on a parsed dns::Message.
// Thread contract: plain values and pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "dns/message.h"

namespace cw::resolver {

// One SRV record (RFC 2782) and the addresses of its target.
struct SrvTarget {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;                  // as in the record, no trailing dot
  std::vector<std::string> addresses;  // IP text: from the additional section, or looked up
};

struct Answer {
  std::vector<std::string> addresses;  // A / AAAA: IP text, in answer order
  std::vector<SrvTarget> srv;          // SRV
  // The TTL to honour, seconds: the smallest TTL of every record the answer was read from
  // (CNAMEs on the way, the RRset, additional address records used), or for a negative answer
  // min(SOA TTL, SOA MINIMUM) (RFC 2308 5).
  uint32_t ttl_s = 0;
  bool negative = false;  // NXDOMAIN or NODATA: the name has no such records
  bool nxdomain = false;  // NXDOMAIN (else NODATA when negative)
  // False for a negative answer without an SOA in authority: RFC 2308 5 says not to cache it.
  bool cacheable = true;
};

// The CNAME chain is followed at most this far (a loop or a long chain is an error).
constexpr int kMaxCnameChain = 8;

// Reads `qtype` (A, AAAA or SRV) records for `qname` out of a response. NOERROR with records
// (through CNAMEs) is positive; NOERROR without them is NODATA; NXDOMAIN is negative. Any other
// RCODE, a response to another question, or a CNAME loop is an error (text for logs and the
// API).
Result<Answer, std::string> read_answer(const dns::Message& m, std::string_view qname,
                                        uint16_t qtype);

// "A", "AAAA", "SRV", else the number.
std::string qtype_name(uint16_t qtype);
// IP text for an A (4 bytes) or AAAA (16 bytes) record's address.
std::string address_text(const dns::Record& r);

}  // namespace cw::resolver
