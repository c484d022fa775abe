// DNS response encoding (see builder.h): eager per-record encoding, rolled back when over limit.
// Thread contract: one builder per response on one thread; pure helpers otherwise.
#include "dns/builder.h"

#include <algorithm>

namespace cw::dns {

namespace {

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xFFFF));
}
void set16(std::string& out, size_t at, uint16_t v) {
  out[at] = static_cast<char>(v >> 8);
  out[at + 1] = static_cast<char>(v & 0xFF);
}

}  // namespace

size_t udp_limit(const Query& q) {
  if (!q.edns.present) return kPlainUdpLimit;
  return std::clamp<size_t>(q.edns.udp_size, kPlainUdpLimit, kEdnsPayload);
}

ResponseBuilder::ResponseBuilder(const Query& q, size_t limit)
    : limit_(std::min(limit, kTcpLimit)),
      edns_(q.edns.present),
      id_(q.header.id),
      rd_(q.header.rd),
      cd_(q.header.cd),
      opcode_(q.header.opcode) {
  out_.reserve(std::min<size_t>(limit_, 1232));
  out_.resize(kHeaderSize);
  if (edns_) reserve_ = kOptSize;
  if (q.has_question) {
    // Echoed as sent (case kept for 0x20 checks); being the first name, later owner names
    // point into it.
    size_t mark = out_.size();
    if (names_.write(out_, q.question.name, true)) {
      put16(out_, q.question.type);
      put16(out_, q.question.qclass);
      qdcount_ = 1;
    } else {
      out_.resize(mark);
      names_.rollback(mark);
    }
  }
}

bool ResponseBuilder::encode(const Record& r) {
  if (!names_.write(out_, r.name, true)) return false;
  put16(out_, r.type);
  put16(out_, r.rclass);
  put32(out_, r.ttl);
  size_t rdlen_at = out_.size();
  put16(out_, 0);
  switch (r.type) {
    case rr::kA:
      out_.append(reinterpret_cast<const char*>(r.addr.data()), 4);
      break;
    case rr::kAAAA:
      out_.append(reinterpret_cast<const char*>(r.addr.data()), 16);
      break;
    case rr::kNS:
    case rr::kCNAME:
    case rr::kPTR:
      if (!names_.write(out_, r.target, true)) return false;
      break;
    case rr::kSOA:
      if (!names_.write(out_, r.soa.mname, true) || !names_.write(out_, r.soa.rname, true)) {
        return false;
      }
      put32(out_, r.soa.serial);
      put32(out_, r.soa.refresh);
      put32(out_, r.soa.retry);
      put32(out_, r.soa.expire);
      put32(out_, r.soa.minimum);
      break;
    case rr::kSRV:
      put16(out_, r.priority);
      put16(out_, r.weight);
      put16(out_, r.port);
      // RFC 2782: "name compression is not to be used for this field".
      if (!names_.write(out_, r.target, false)) return false;
      break;
    default:
      if (r.rdata.size() > 0xFFFF) return false;
      out_.append(r.rdata);
      break;
  }
  set16(out_, rdlen_at, static_cast<uint16_t>(out_.size() - rdlen_at - 2));
  return true;
}

bool ResponseBuilder::add(Section s, const Record& r) {
  if (s < section_) return false;
  section_ = s;
  if (tc_ && s != kAdditional) return false;
  if (counts_[s] == 0xFFFF) return false;
  size_t mark = out_.size();
  bool ok = encode(r);
  if (ok && out_.size() + reserve_ <= limit_) {
    ++counts_[s];
    return true;
  }
  out_.resize(mark);
  names_.rollback(mark);
  if (ok && s != kAdditional) tc_ = true;  // a record that fits nowhere: whole records only
  return false;
}

std::string ResponseBuilder::finish() {
  bool opt = edns_ || rcode_ > 15;
  if (opt) {
    out_.push_back('\0');  // root
    put16(out_, rr::kOPT);
    put16(out_, kEdnsPayload);
    // TTL: extended RCODE, version 0, DO clear (we sign nothing), Z zero.
    put32(out_, static_cast<uint32_t>((rcode_ >> 4) & 0xFF) << 24);
    put16(out_, 0);
  }
  uint16_t flags = 0x8000;  // QR
  flags |= static_cast<uint16_t>((opcode_ & 0xF) << 11);
  if (aa_) flags |= 0x0400;
  if (tc_) flags |= 0x0200;
  if (rd_) flags |= 0x0100;
  if (cd_) flags |= 0x0010;
  flags |= rcode_ & 0xF;
  set16(out_, 0, id_);
  set16(out_, 2, flags);
  set16(out_, 4, qdcount_);
  set16(out_, 6, counts_[kAnswer]);
  set16(out_, 8, counts_[kAuthority]);
  set16(out_, 10, static_cast<uint16_t>(counts_[kAdditional] + (opt ? 1 : 0)));
  return std::move(out_);
}

std::string error_response(const Query& q, uint16_t rc) {
  ResponseBuilder b(q, kTcpLimit);
  b.set_authoritative(false);
  b.set_rcode(rc);
  return b.finish();
}

std::string negative_response(const Query& q, uint16_t rc, const Record& soa, size_t limit) {
  ResponseBuilder b(q, limit);
  b.set_rcode(rc);
  b.add_authority(soa);
  return b.finish();
}

}  // namespace cw::dns
