// libFuzzer target: the DNS codec on arbitrary bytes. Beyond "no crash, no UB", every response
// built for a parsed query (an answer set, a negative answer, an error) must parse back with the
// query's ID, its question, and within the size limit it was built for; and any message read as
// a forwarded answer (dns/ttl.h) gives a client copy that parses, fits its limit and keeps the
// client's ID, with every TTL aged.
// Thread contract: single-threaded fuzzer entry point.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dns/builder.h"
#include "dns/message.h"
#include "dns/ttl.h"

namespace {

using namespace cw::dns;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_response(const Query& q, const std::string& wire, size_t limit) {
  check(wire.size() <= limit);
  Message m;
  check(parse_message(wire, m) == nullptr);
  check(m.header.qr && m.header.id == q.header.id && m.header.rd == q.header.rd);
  check(m.questions.size() == (q.has_question ? 1u : 0u));
  if (q.has_question) check(m.questions[0].name == q.question.name);
  check(m.edns.present == q.edns.present || m.rcode() > 15);
}

// The input as an upstream answer: laid out, its cache TTL, its TTLs aged, and client copies.
void check_forwarded(std::string_view wire, size_t size) {
  Layout l;
  if (read_layout(wire, l) != nullptr) return;
  Message m;
  check(parse_message(wire, m) == nullptr);  // read_layout accepts only what this accepts
  const CacheTtl t = cache_ttl(wire, l);
  check(t.kind == CacheTtl::kNone || t.ttl <= 0x7FFFFFFFu);
  std::string aged(wire);
  const uint32_t age = uint32_t(size * 7919);
  age_ttls(aged, l, age);
  Message a;
  check(parse_message(aged, a) == nullptr);
  check(a.answers.size() == m.answers.size());
  for (size_t i = 0; i < a.answers.size(); ++i) {
    const uint32_t before = m.answers[i].ttl > 0x7FFFFFFFu ? 0 : m.answers[i].ttl;
    check(a.answers[i].ttl == (before > age ? before - age : 0));
  }
  for (bool edns : {false, true}) {
    for (size_t limit : {kPlainUdpLimit, size_t(kEdnsPayload), kTcpLimit}) {
      ClientView c{uint16_t(size), (size & 1) != 0, edns, {}, limit};
      const std::string out = client_response(wire, l, c, age);
      Message o;
      check(parse_message(out, o) == nullptr);
      check(o.header.id == c.id && o.header.qr && o.header.ra && o.header.rd == c.rd);
      check(o.edns.present == edns);
      check(o.questions.size() == m.questions.size());
      // Whatever the header and question take, the records kept fit the limit.
      if (l.question_end + (edns ? kOptSize : 0) <= limit) check(out.size() <= limit);
      check(o.answers.size() <= m.answers.size());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  Message any;
  (void)parse_message(wire, any);
  check_forwarded(wire, size);

  QueryParse p = parse_query(wire);
  if (p.status == ParseStatus::kDrop) return 0;
  const Query& q = p.query;
  if (p.status == ParseStatus::kFormErr) {
    check_response(q, error_response(q, rcode::kFormErr), kTcpLimit);
    return 0;
  }
  if (!q.has_question) {
    check_response(q, error_response(q, rcode::kNotImp), kTcpLimit);
    return 0;
  }
  if (q.edns.version > 0) check_response(q, error_response(q, rcode::kBadVers), kTcpLimit);

  // An answer set sized by the input, owner names from the question, under the UDP limit.
  size_t limit = udp_limit(q);
  ResponseBuilder b(q, limit);
  std::string sub = "i." + q.qname_lower;
  size_t n = size % 97;
  for (size_t i = 0; i < n; ++i) {
    uint8_t k = static_cast<uint8_t>(i);
    if (i % 3 == 0) {
      b.add_answer(Record::a(q.question.name, 30, {10, 0, 0, k}));
    } else if (i % 3 == 1) {
      b.add_answer(Record::srv(q.question.name, 30, 0, k, 9000, sub));
    } else {
      b.add_additional(Record::aaaa(sub, 30, {0x20, 0x01, k}));
    }
  }
  Record soa = Record::soa_record(q.question.name, 30,
                                  Soa{"ns." + q.qname_lower, "hostmaster", 1, 2, 3, 4, 5});
  b.add_authority(soa);
  std::string out = b.finish();
  check_response(q, out, limit);
  check_response(q, negative_response(q, rcode::kNxDomain, soa, limit), limit);
  return 0;
}
