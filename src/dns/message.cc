// DNS message decoding (see message.h): bounds-checked reads, every count checked against data.
// Thread contract: pure functions; any thread.
#include "dns/message.h"

#include <cstring>

#include "dns/name.h"

namespace cw::dns {

namespace {
// The fields every record has; the factories below add their type's rdata.
Record owner(std::string name, uint16_t type, uint32_t ttl) {
  Record r;
  r.name = std::move(name);
  r.type = type;
  r.ttl = ttl;
  return r;
}
}  // namespace

Record Record::a(std::string name, uint32_t ttl, std::array<uint8_t, 4> v4) {
  Record r = owner(std::move(name), rr::kA, ttl);
  std::memcpy(r.addr.data(), v4.data(), 4);
  return r;
}

Record Record::aaaa(std::string name, uint32_t ttl, std::array<uint8_t, 16> v6) {
  Record r = owner(std::move(name), rr::kAAAA, ttl);
  r.addr = v6;
  return r;
}

Record Record::ns(std::string name, uint32_t ttl, std::string host) {
  Record r = owner(std::move(name), rr::kNS, ttl);
  r.target = std::move(host);
  return r;
}

Record Record::srv(std::string name, uint32_t ttl, uint16_t priority, uint16_t weight,
                   uint16_t port, std::string target) {
  Record r = owner(std::move(name), rr::kSRV, ttl);
  r.priority = priority;
  r.weight = weight;
  r.port = port;
  r.target = std::move(target);
  return r;
}

Record Record::soa_record(std::string name, uint32_t ttl, Soa soa) {
  Record r = owner(std::move(name), rr::kSOA, ttl);
  r.soa = std::move(soa);
  return r;
}

Record Record::raw(std::string name, uint16_t type, uint32_t ttl, std::string rdata) {
  Record r = owner(std::move(name), type, ttl);
  r.rdata = std::move(rdata);
  return r;
}

namespace {

// A cursor over the message; every read checks the bounds first.
struct Reader {
  std::string_view msg;
  size_t pos = 0;

  bool u16(uint16_t& v) {
    if (msg.size() - pos < 2) return false;
    v = static_cast<uint16_t>((static_cast<uint8_t>(msg[pos]) << 8) |
                              static_cast<uint8_t>(msg[pos + 1]));
    pos += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    uint16_t hi = 0, lo = 0;
    if (!u16(hi) || !u16(lo)) return false;
    v = (static_cast<uint32_t>(hi) << 16) | lo;
    return true;
  }
  const char* name(std::string& out) { return read_name(msg, pos, out, pos); }
};

Header read_header(std::string_view wire) {
  Reader r{wire, 0};
  Header h;
  uint16_t flags = 0;
  (void)(r.u16(h.id) && r.u16(flags) && r.u16(h.qdcount) && r.u16(h.ancount) && r.u16(h.nscount) &&
         r.u16(h.arcount));
  h.qr = flags & 0x8000;
  h.opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  h.aa = flags & 0x0400;
  h.tc = flags & 0x0200;
  h.rd = flags & 0x0100;
  h.ra = flags & 0x0080;
  h.ad = flags & 0x0020;
  h.cd = flags & 0x0010;
  h.rcode = static_cast<uint8_t>(flags & 0xF);
  return h;
}

// Decodes the rdata of `rec` from msg[start, start+len); names in it may be compressed.
const char* read_rdata(std::string_view msg, size_t start, uint16_t len, Record& rec) {
  Reader r{msg.substr(0, start + len), start};  // names may point back, never past the rdata
  const char* err = nullptr;
  switch (rec.type) {
    case rr::kA:
    case rr::kAAAA: {
      size_t want = rec.type == rr::kA ? 4 : 16;
      if (len != want) return "address rdata of the wrong length";
      std::memcpy(rec.addr.data(), msg.data() + start, want);
      return nullptr;
    }
    case rr::kNS:
    case rr::kCNAME:
    case rr::kPTR:
      err = r.name(rec.target);
      break;
    case rr::kSOA:
      if ((err = r.name(rec.soa.mname)) || (err = r.name(rec.soa.rname))) break;
      if (!(r.u32(rec.soa.serial) && r.u32(rec.soa.refresh) && r.u32(rec.soa.retry) &&
            r.u32(rec.soa.expire) && r.u32(rec.soa.minimum))) {
        return "SOA rdata too short";
      }
      break;
    case rr::kSRV:
      if (!(r.u16(rec.priority) && r.u16(rec.weight) && r.u16(rec.port)))
        return "SRV rdata too short";
      err = r.name(rec.target);
      break;
    default:
      rec.rdata.assign(msg.substr(start, len));
      return nullptr;
  }
  if (err) return err;
  if (r.pos != start + len) return "rdata longer than its fields";
  return nullptr;
}

const char* read_opt(const Record& rec, uint16_t rclass, uint32_t ttl, Edns& edns) {
  if (edns.present) return "more than one OPT record";
  if (!rec.name.empty()) return "OPT record with a name other than the root";
  edns.present = true;
  edns.udp_size = rclass;
  edns.ext_rcode = static_cast<uint8_t>(ttl >> 24);
  edns.version = static_cast<uint8_t>(ttl >> 16);
  edns.do_bit = ttl & 0x8000;
  return nullptr;
}

// Reads `count` records into `out`; OPT only where `edns` is given (the additional section).
const char* read_section(Reader& r, uint16_t count, std::vector<Record>& out, Edns* edns) {
  for (uint16_t i = 0; i < count; ++i) {
    Record rec;
    if (const char* err = r.name(rec.name)) return err;
    uint16_t rdlen = 0;
    if (!(r.u16(rec.type) && r.u16(rec.rclass) && r.u32(rec.ttl) && r.u16(rdlen))) {
      return "record header runs past the end of the message";
    }
    if (r.msg.size() - r.pos < rdlen) return "rdata runs past the end of the message";
    if (rec.type == rr::kOPT) {
      if (!edns) return "OPT record outside the additional section";
      if (const char* err = read_opt(rec, rec.rclass, rec.ttl, *edns)) return err;
    } else {
      if (const char* err = read_rdata(r.msg, r.pos, rdlen, rec)) return err;
      out.push_back(std::move(rec));
    }
    r.pos += rdlen;
  }
  return nullptr;
}

}  // namespace

const char* parse_message(std::string_view wire, Message& out) {
  out = Message{};
  if (wire.size() < kHeaderSize) return "shorter than a header";
  out.header = read_header(wire);
  Reader r{wire, kHeaderSize};
  for (uint16_t i = 0; i < out.header.qdcount; ++i) {
    Question q;
    if (const char* err = r.name(q.name)) return err;
    if (!(r.u16(q.type) && r.u16(q.qclass))) return "question runs past the end of the message";
    out.questions.push_back(std::move(q));
  }
  const Header& h = out.header;
  if (const char* err = read_section(r, h.ancount, out.answers, nullptr)) return err;
  if (const char* err = read_section(r, h.nscount, out.authority, nullptr)) return err;
  return read_section(r, h.arcount, out.additional, &out.edns);
}

QueryParse parse_query(std::string_view wire) {
  QueryParse res;
  if (wire.size() < kHeaderSize) {
    res.reason = "shorter than a header";
    return res;  // kDrop: no flags to trust, so no answer
  }
  res.query.header = read_header(wire);
  if (res.query.header.qr) {
    res.reason = "a response, not a query";
    return res;  // kDrop: answering responses invites loops
  }
  if (res.query.header.opcode != kOpcodeQuery) {
    res.status = ParseStatus::kOk;
    return res;
  }
  Message m;
  const char* err = parse_message(wire, m);
  res.query.edns = m.edns;  // whatever was read of it: a FORMERR still echoes a good OPT
  if (!err && m.questions.size() != 1) err = "not exactly one question";
  if (err) {
    res.status = ParseStatus::kFormErr;
    res.reason = err;
    return res;
  }
  res.status = ParseStatus::kOk;
  res.query.question = std::move(m.questions[0]);
  res.query.qname_lower = to_lower(res.query.question.name);
  res.query.has_question = true;
  return res;
}

}  // namespace cw::dns
