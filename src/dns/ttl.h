// Forwarded answers on the wire: where each record sits (so a cached answer is re-served by
// copying and patching bytes, never re-encoded), how long an answer may be cached (RFC 1035,
// RFC 2181 8, negative answers RFC 2308), TTLs aged in place, and the copy one client gets.
// Thread contract: plain value types and pure functions (no I/O, no globals); any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/builder.h"
#include "dns/message.h"

namespace cw::dns {

// One resource record of a message, as offsets into its wire bytes.
struct RecordSpan {
  uint8_t section = 0;  // 0 answer, 1 authority, 2 additional
  uint16_t type = 0;
  size_t start = 0;   // the owner name
  size_t ttl_at = 0;  // the TTL's four bytes
  size_t end = 0;     // one past the rdata
};

struct Layout {
  Header header;
  size_t question_end = kHeaderSize;  // one past the last question
  std::vector<RecordSpan> records;    // in wire order, OPT included
};

// Lays out `wire`: nullptr on success, else a static reason. The message must pass
// parse_message (the same rules: compression pointers only backwards, every count and rdata
// bounds-checked and consistent with its type), and no name may lead through the header or a
// TTL (bytes a client's copy rewrites); bytes after the last record are ignored.
const char* read_layout(std::string_view wire, Layout& out);

// How long an answer may be cached.
struct CacheTtl {
  enum Kind : uint8_t {
    kNone,      // not cacheable: TC, an rcode other than NOERROR/NXDOMAIN, a negative answer
                // without an SOA, or malformed
    kPositive,  // NOERROR with answers: the smallest TTL of every record except OPT
    kNegative,  // NXDOMAIN, or NOERROR without answers (NODATA): min(SOA TTL, SOA MINIMUM) and
                // the TTLs of any answers (a CNAME leading to the missing name), RFC 2308 5
  };
  Kind kind = kNone;
  uint32_t ttl = 0;  // seconds; a TTL with the top bit set counts as 0 (RFC 2181 8)
};
CacheTtl cache_ttl(std::string_view wire, const Layout& l);

// Lowers every record's TTL (OPT excepted) by `age` seconds, flooring at 0, in place. `l` must
// be the layout of `wire`.
void age_ttls(std::string& wire, const Layout& l, uint32_t age);

// The client a forwarded answer is copied for.
struct ClientView {
  uint16_t id = 0;
  bool rd = false;
  bool edns = false;           // the client sent OPT: ours goes back, else none
  std::string_view qname;      // the client's question name as on its wire (restores 0x20 case)
  size_t limit = kTcpLimit;    // the client's size limit (udp_limit, or kTcpLimit over TCP)
};

// One client's copy of the upstream answer `wire` (laid out in `l`): the client's ID and RD,
// RA set, AA clear, the question name in the client's case (when it has the same length), TTLs
// aged by `age`, the upstream OPT replaced by ours (payload 1232, its extended RCODE and DO bit
// kept) when the client sent EDNS and dropped otherwise, together with any record after it.
// Whole records only, in order, while they fit `limit`; when an answer or authority record
// does not, TC is set and the rest is left out (additional records are cut without TC).
std::string client_response(std::string_view wire, const Layout& l, const ClientView& c,
                            uint32_t age);

// The wire bytes of a query's first question name, as the query sent it (for ClientView):
// empty when the query has no question or the name is compressed.
std::string_view question_name_wire(std::string_view query);

}  // namespace cw::dns
