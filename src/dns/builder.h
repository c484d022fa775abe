// Building DNS responses (RFC 1035, EDNS0 RFC 6891, truncation RFC 2181 9): header copied from
// the query, question echoed, records encoded with name compression under a size limit.
// Thread contract: a ResponseBuilder is owned by one thread for one response; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dns/message.h"
#include "dns/name.h"

namespace cw::dns {

constexpr uint16_t kEdnsPayload = 1232;  // what we advertise and the most we send over UDP
                                         // (DNS flag day 2020: avoids IP fragmentation)
constexpr size_t kPlainUdpLimit = 512;   // RFC 1035 without EDNS
constexpr size_t kTcpLimit = 65535;      // the TCP length prefix
constexpr size_t kOptSize = 11;          // our OPT: root name, type, class, ttl, rdlength 0

// The UDP answer size limit for `q`: 512 without EDNS, min(client's size, 1232) with it (a
// client size below 512 counts as 512, RFC 6891 6.2.3).
size_t udp_limit(const Query& q);

// Encodes one response as records are added, in section order (answers, then authority, then
// additional). Each add either appends the whole record or nothing:
// - an answer or authority record that does not fit sets TC, and every later answer and
//   authority record is refused (the client retries over TCP for the whole answer);
// - an additional record that does not fit is left out without TC (it is optional).
// Space for the OPT record (when the query had one) is kept back from the start.
class ResponseBuilder {
 public:
  ResponseBuilder(const Query& q, size_t limit);

  // Up to 4095; above 15 the upper bits go in an OPT record, whose room is then kept back.
  void set_rcode(uint16_t rc) {
    rcode_ = rc;
    if (rc > 15) reserve_ = kOptSize;
  }
  void set_authoritative(bool aa) { aa_ = aa; }

  // True if the record was added. False if it did not fit, came out of section order, or
  // has an invalid name (empty or > 63-octet label, > 255 octets).
  bool add_answer(const Record& r) { return add(kAnswer, r); }
  bool add_authority(const Record& r) { return add(kAuthority, r); }
  bool add_additional(const Record& r) { return add(kAdditional, r); }

  bool truncated() const { return tc_; }
  size_t size() const { return out_.size(); }

  // The wire bytes: OPT appended, counts and flags written. The builder is spent after.
  std::string finish();

 private:
  enum Section { kAnswer = 0, kAuthority = 1, kAdditional = 2 };
  bool add(Section s, const Record& r);
  bool encode(const Record& r);

  std::string out_;
  NameWriter names_;
  size_t limit_;
  size_t reserve_ = 0;  // bytes kept for the OPT record
  bool edns_ = false;
  uint16_t id_;
  bool rd_;
  bool cd_;
  uint8_t opcode_;
  uint16_t rcode_ = rcode::kNoError;
  bool aa_ = true;
  bool tc_ = false;
  Section section_ = kAnswer;
  uint16_t counts_[3] = {0, 0, 0};
  uint16_t qdcount_ = 0;
};

// A response carrying only an RCODE (FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS): the
// question echoed if the query had a readable one, OPT if the query had one (always with an
// RCODE above 15). Not authoritative.
std::string error_response(const Query& q, uint16_t rc);

// NXDOMAIN (rc = NXDOMAIN) or NODATA (rc = NOERROR, no answers): authoritative, the zone's SOA
// in authority so resolvers can cache the negative answer (RFC 2308).
std::string negative_response(const Query& q, uint16_t rc, const Record& soa, size_t limit);

}  // namespace cw::dns
