// DNS messages (RFC 1035 4, EDNS0 RFC 6891): the typed model and the decoders, for the
// authoritative server's queries and for re-reading any message. Thread contract: plain value
// types and pure functions (no I/O, no globals); any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cw::dns {

namespace rr {  // RR TYPEs this codec knows by name; any other is carried as raw rdata
constexpr uint16_t kA = 1, kNS = 2, kCNAME = 5, kSOA = 6, kPTR = 12, kTXT = 16, kAAAA = 28,
                   kSRV = 33, kOPT = 41, kANY = 255;
}  // namespace rr
namespace rcode {  // values above 15 need the OPT record's extended RCODE
constexpr uint16_t kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3, kNotImp = 4,
                   kRefused = 5, kBadVers = 16;
}  // namespace rcode
constexpr uint16_t kClassIN = 1;
constexpr uint8_t kOpcodeQuery = 0;
constexpr size_t kHeaderSize = 12;

struct Header {
  uint16_t id = 0;
  bool qr = false;
  uint8_t opcode = 0;
  bool aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  uint8_t rcode = 0;  // the low 4 bits; Message::rcode() adds the OPT's upper 8
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
};

struct Edns {  // the OPT pseudo-record (RFC 6891 6.1.2)
  bool present = false;
  uint16_t udp_size = 0;  // the sender's UDP payload size, as sent
  uint8_t ext_rcode = 0;  // upper 8 bits of the 12-bit RCODE
  uint8_t version = 0;
  bool do_bit = false;
};

struct Question {
  std::string name;  // dotted, case as sent
  uint16_t type = 0;
  uint16_t qclass = 0;
};

struct Soa {
  std::string mname, rname;
  uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

// One resource record. The rdata fields used depend on `type`: A/AAAA `addr` (4/16 bytes),
// NS/CNAME/PTR `target`, SRV priority/weight/port/target, SOA `soa`, anything else `rdata`
// (the bytes as they are; a later type with names in its rdata gets its own case).
struct Record {
  std::string name;
  uint16_t type = 0;
  uint16_t rclass = kClassIN;
  uint32_t ttl = 0;
  std::array<uint8_t, 16> addr{};
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
  Soa soa;
  std::string rdata;

  static Record a(std::string name, uint32_t ttl, std::array<uint8_t, 4> v4);
  static Record aaaa(std::string name, uint32_t ttl, std::array<uint8_t, 16> v6);
  static Record ns(std::string name, uint32_t ttl, std::string host);
  static Record srv(std::string name, uint32_t ttl, uint16_t priority, uint16_t weight,
                    uint16_t port, std::string target);
  static Record soa_record(std::string name, uint32_t ttl, Soa soa);
  static Record raw(std::string name, uint16_t type, uint32_t ttl, std::string rdata);
};

// A whole message; the OPT record is lifted out of `additional` into `edns`.
struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Record> answers, authority, additional;
  Edns edns;
  uint16_t rcode() const { return static_cast<uint16_t>(header.rcode | (edns.ext_rcode << 4)); }
};

// Decodes any message: nullptr on success, else a static reason (counts larger than the data,
// a bad name, rdata whose length disagrees with its type, OPT twice or outside additional).
const char* parse_message(std::string_view wire, Message& out);

enum class ParseStatus {
  kOk,       // answer it (NOTIMP first if header.opcode != QUERY)
  kFormErr,  // answer FORMERR (error_response in builder.h): `reason` says why
  kDrop,     // answer nothing: a response (QR=1), or too short to carry a header to answer
};

struct Query {
  Header header;
  Question question;  // valid when has_question
  bool has_question = false;
  std::string qname_lower;  // question.name lowercased, for matching (names are
                            // case-insensitive, RFC 4343)
  Edns edns;
};

struct QueryParse {
  ParseStatus status = ParseStatus::kDrop;
  const char* reason = "";
  Query query;  // kOk: filled; kFormErr: the header (and edns if it was read), enough to answer
};

// Reads a query for the authoritative server. kOk means either an opcode other than QUERY
// (nothing past the header was read: answer NOTIMP) or exactly one well-formed question.
QueryParse parse_query(std::string_view wire);

}  // namespace cw::dns
