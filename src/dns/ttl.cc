// Forwarded answers on the wire (see ttl.h): a layout pass after parse_message has vouched
// for the bytes, then copies and patches by offset. Thread contract: pure functions; any thread.
#include "dns/ttl.h"

#include <algorithm>
#include <cstring>

#include "dns/name.h"

namespace cw::dns {

namespace {

uint16_t get16(std::string_view w, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(w[at]) << 8) | static_cast<uint8_t>(w[at + 1]));
}
uint32_t get32(std::string_view w, size_t at) {
  return (static_cast<uint32_t>(get16(w, at)) << 16) | get16(w, at + 2);
}
void set16(std::string& w, size_t at, uint16_t v) {
  w[at] = static_cast<char>(v >> 8);
  w[at + 1] = static_cast<char>(v & 0xFF);
}
void set32(std::string& w, size_t at, uint32_t v) {
  set16(w, at, static_cast<uint16_t>(v >> 16));
  set16(w, at + 2, static_cast<uint16_t>(v & 0xFFFF));
}
void put16(std::string& w, uint16_t v) {
  w.push_back(static_cast<char>(v >> 8));
  w.push_back(static_cast<char>(v & 0xFF));
}

// RFC 2181 8: a TTL with the most significant bit set is read as zero.
uint32_t ttl_value(uint32_t raw) { return raw > 0x7FFFFFFFu ? 0 : raw; }

uint32_t aged(uint32_t raw, uint32_t age) {
  const uint32_t t = ttl_value(raw);
  return t > age ? t - age : 0;
}

// A client's copy rewrites the header and every TTL. A name whose compression pointers lead
// through those bytes (no real server writes one, but a pointer may target any earlier byte)
// would read differently in the copy, so a message holding one is refused: `rewritten` marks
// those bytes, and the name at `pos` (already read without error) must not touch one.
bool touches_rewritten(std::string_view w, const std::vector<uint8_t>& rewritten, size_t pos) {
  for (int hops = 0; hops < 128 && pos < w.size();) {
    if (rewritten[pos]) return true;
    const uint8_t len = static_cast<uint8_t>(w[pos]);
    if (len == 0) return false;
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= w.size() || rewritten[pos + 1]) return true;
      pos = (size_t(len & 0x3F) << 8) | static_cast<uint8_t>(w[pos + 1]);
      ++hops;
      continue;
    }
    for (size_t i = pos + 1; i <= pos + len && i < w.size(); ++i) {
      if (rewritten[i]) return true;
    }
    pos += 1 + len;
  }
  return true;
}

// The same for every name in a record's rdata that parse_message decodes.
bool rdata_touches_rewritten(std::string_view w, const std::vector<uint8_t>& rewritten,
                             uint16_t type, size_t rdata) {
  std::string ignored;
  size_t next = 0;
  switch (type) {
    case rr::kNS:
    case rr::kCNAME:
    case rr::kPTR:
      return touches_rewritten(w, rewritten, rdata);
    case rr::kSOA:
      if (touches_rewritten(w, rewritten, rdata) || read_name(w, rdata, ignored, next) != nullptr) {
        return true;
      }
      return touches_rewritten(w, rewritten, next);
    case rr::kSRV:
      return touches_rewritten(w, rewritten, rdata + 6);
    default:
      return false;
  }
}

}  // namespace

const char* read_layout(std::string_view wire, Layout& out) {
  out = Layout{};
  // parse_message checks everything (names, counts, rdata against its type); the walk below
  // then only needs to skip what it has already vouched for.
  Message m;
  if (const char* err = parse_message(wire, m)) return err;
  out.header = m.header;
  size_t pos = kHeaderSize;
  std::string name;
  std::vector<size_t> questions;
  for (uint16_t i = 0; i < m.header.qdcount; ++i) {
    questions.push_back(pos);
    if (const char* err = read_name(wire, pos, name, pos)) return err;
    pos += 4;
  }
  out.question_end = pos;
  const uint16_t counts[3] = {m.header.ancount, m.header.nscount, m.header.arcount};
  out.records.reserve(size_t(counts[0]) + counts[1] + counts[2]);
  for (uint8_t s = 0; s < 3; ++s) {
    for (uint16_t i = 0; i < counts[s]; ++i) {
      RecordSpan r;
      r.section = s;
      r.start = pos;
      if (const char* err = read_name(wire, pos, name, pos)) return err;
      if (wire.size() - pos < 10) return "record header runs past the end of the message";
      r.type = get16(wire, pos);
      r.ttl_at = pos + 4;
      const size_t rdlen = get16(wire, pos + 8);
      pos += 10;
      if (wire.size() - pos < rdlen) return "rdata runs past the end of the message";
      pos += rdlen;
      r.end = pos;
      out.records.push_back(r);
    }
  }
  std::vector<uint8_t> rewritten(wire.size(), 0);
  std::fill_n(rewritten.begin(), kHeaderSize, 1);
  for (const RecordSpan& r : out.records) std::fill_n(rewritten.begin() + long(r.ttl_at), 4, 1);
  constexpr const char* kRewritten = "a name points into the header or a TTL";
  for (size_t q : questions) {
    if (touches_rewritten(wire, rewritten, q)) return kRewritten;
  }
  for (const RecordSpan& r : out.records) {
    if (touches_rewritten(wire, rewritten, r.start)) return kRewritten;
    if (r.type != rr::kOPT && rdata_touches_rewritten(wire, rewritten, r.type, r.ttl_at + 6)) {
      return kRewritten;
    }
  }
  return nullptr;
}

CacheTtl cache_ttl(std::string_view wire, const Layout& l) {
  CacheTtl none;
  if (l.header.tc || !l.header.qr) return none;  // a partial answer is not the answer
  uint16_t rc = l.header.rcode;
  for (const RecordSpan& r : l.records) {
    if (r.type == rr::kOPT) rc = static_cast<uint16_t>(rc | ((get32(wire, r.ttl_at) >> 24) << 4));
  }
  const bool nodata = rc == rcode::kNoError && l.header.ancount == 0;
  if (rc == rcode::kNoError && !nodata) {
    uint32_t ttl = UINT32_MAX;
    for (const RecordSpan& r : l.records) {
      if (r.type != rr::kOPT) ttl = std::min(ttl, ttl_value(get32(wire, r.ttl_at)));
    }
    return {CacheTtl::kPositive, ttl};
  }
  if (rc != rcode::kNxDomain && !nodata) return none;  // SERVFAIL, REFUSED, ...: not cached
  uint32_t ttl = UINT32_MAX;
  bool soa = false;
  for (const RecordSpan& r : l.records) {
    if (r.section == 0) ttl = std::min(ttl, ttl_value(get32(wire, r.ttl_at)));
    // The SOA's MINIMUM is its rdata's last field (parse_message checked the rdata's shape).
    if (r.section == 1 && r.type == rr::kSOA && r.end - r.ttl_at >= 6 + 22) {
      soa = true;
      ttl = std::min({ttl, ttl_value(get32(wire, r.ttl_at)), ttl_value(get32(wire, r.end - 4))});
    }
  }
  if (!soa) return none;  // RFC 2308 5: without an SOA a negative answer is not cached
  return {CacheTtl::kNegative, ttl};
}

void age_ttls(std::string& wire, const Layout& l, uint32_t age) {
  for (const RecordSpan& r : l.records) {
    if (r.type == rr::kOPT || r.ttl_at + 4 > wire.size()) continue;
    set32(wire, r.ttl_at, aged(get32(wire, r.ttl_at), age));
  }
}

std::string_view question_name_wire(std::string_view query) {
  if (query.size() <= kHeaderSize || get16(query, 4) == 0) return {};
  size_t pos = kHeaderSize;
  while (pos < query.size()) {
    const uint8_t len = static_cast<uint8_t>(query[pos]);
    if (len == 0) return query.substr(kHeaderSize, pos + 1 - kHeaderSize);
    if (len > kMaxLabel) return {};  // a pointer (or a reserved label type)
    pos += 1 + len;
  }
  return {};
}

std::string client_response(std::string_view wire, const Layout& l, const ClientView& c,
                            uint32_t age) {
  std::string out;
  if (l.question_end > wire.size()) return out;
  out.reserve(std::min(wire.size() + kOptSize, c.limit));
  out.assign(wire.substr(0, l.question_end));
  // The question in the client's case (0x20): the same name, so the same length and labels;
  // pointers into it stay valid.
  if (l.header.qdcount == 1 && !c.qname.empty() && kHeaderSize + c.qname.size() <= out.size() &&
      iequals(c.qname, std::string_view(out).substr(kHeaderSize, c.qname.size()))) {
    std::memcpy(out.data() + kHeaderSize, c.qname.data(), c.qname.size());
  }
  const size_t reserve = c.edns ? kOptSize : 0;
  bool tc = l.header.tc;
  uint16_t counts[3] = {0, 0, 0};
  uint32_t opt_ttl = 0;
  for (const RecordSpan& r : l.records) {
    if (r.type == rr::kOPT) {
      // Ours replaces it. Records after it are dropped too: cutting only at the end keeps every
      // compression pointer (they point backwards) valid. They can only be additional records.
      opt_ttl = get32(wire, r.ttl_at);
      break;
    }
    const size_t len = r.end - r.start;
    if (out.size() + len + reserve > c.limit) {
      if (r.section < 2) tc = true;  // the client retries over TCP for all of it
      break;
    }
    const size_t at = out.size();
    out.append(wire.substr(r.start, len));
    set32(out, at + (r.ttl_at - r.start), aged(get32(wire, r.ttl_at), age));
    ++counts[r.section];
  }
  if (c.edns) {
    out.push_back('\0');  // root
    put16(out, rr::kOPT);
    put16(out, kEdnsPayload);
    // Extended RCODE and DO as upstream said; version 0; the other Z bits clear.
    const uint32_t ttl = (opt_ttl & 0xFF000000u) | (opt_ttl & 0x8000u);
    put16(out, static_cast<uint16_t>(ttl >> 16));
    put16(out, static_cast<uint16_t>(ttl & 0xFFFF));
    put16(out, 0);  // no options: cookies, padding and the like belong to the upstream hop
  }
  set16(out, 0, c.id);
  uint16_t flags = get16(wire, 2);
  flags &= static_cast<uint16_t>(~(0x0400 | 0x0200 | 0x0100));  // AA, TC, RD
  flags |= 0x8000 | 0x0080;                                     // QR, RA
  if (tc) flags |= 0x0200;
  if (c.rd) flags |= 0x0100;
  set16(out, 2, flags);
  set16(out, 6, counts[0]);
  set16(out, 8, counts[1]);
  set16(out, 10, static_cast<uint16_t>(counts[2] + (c.edns ? 1 : 0)));
  return out;
}

}  // namespace cw::dns
