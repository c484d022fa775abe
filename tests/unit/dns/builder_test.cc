// ResponseBuilder and the error helpers: exact bytes for a plain answer, round trips through
// parse_message, EDNS0/BADVERS, truncation at 512/1232 and compression.
#include "dns/builder.h"

#include <gtest/gtest.h>

#include <string>

#include "dns/message.h"
#include "dns_test_util.h"

namespace cw::dns {
namespace {

using testing::bytes;
using testing::query;

Query parsed(const std::string& wire) {
  QueryParse p = parse_query(wire);
  EXPECT_EQ(p.status, ParseStatus::kOk) << p.reason;
  return p.query;
}

Message reparse(const std::string& wire) {
  Message m;
  const char* err = parse_message(wire, m);
  EXPECT_EQ(err, nullptr) << err;
  return m;
}

Soa zone_soa() { return Soa{"ns.internal", "hostmaster.internal", 42, 3600, 600, 86400, 30}; }

TEST(DnsBuild, PlainAAnswerExactBytes) {
  Query q = parsed(query(0xbeef, "Web.internal", rr::kA));
  ResponseBuilder b(q, udp_limit(q));
  ASSERT_TRUE(b.add_answer(Record::a("web.internal", 30, {10, 0, 0, 7})));
  std::string got = b.finish();
  std::string want =
      bytes({0xbe, 0xef, 0x85, 0x00, 0, 1,   0,   1,   0,   0,   0,   0,  // QR AA RD
             3,    'W',  'e',  'b',  8, 'i', 'n', 't', 'e', 'r', 'n', 'a', 'l', 0,  0, 1, 0,
             1,    0xC0, 12,   0,    1, 0,   1,   0,   0,   0,   30,  0,   4,   10, 0, 0, 7});
  EXPECT_EQ(got, want);
}

TEST(DnsBuild, AaaaRoundTrip) {
  Query q = parsed(query(5, "web.internal", rr::kAAAA));
  ResponseBuilder b(q, udp_limit(q));
  std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 1;
  ASSERT_TRUE(b.add_answer(Record::aaaa("web.internal", 30, v6)));
  Message m = reparse(b.finish());
  EXPECT_TRUE(m.header.qr);
  EXPECT_TRUE(m.header.aa);
  EXPECT_EQ(m.header.id, 5);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].type, rr::kAAAA);
  EXPECT_EQ(m.answers[0].addr, v6);
}

TEST(DnsBuild, SrvWithAdditionalAAndUncompressedTarget) {
  Query q = parsed(query(6, "_web._tcp.internal", rr::kSRV));
  ResponseBuilder b(q, udp_limit(q));
  ASSERT_TRUE(
      b.add_answer(Record::srv("_web._tcp.internal", 30, 0, 5, 9001, "a1.web.instance.internal")));
  ASSERT_TRUE(
      b.add_answer(Record::srv("_web._tcp.internal", 30, 0, 1, 9002, "a2.web.instance.internal")));
  ASSERT_TRUE(b.add_additional(Record::a("a1.web.instance.internal", 30, {127, 0, 0, 2})));
  ASSERT_TRUE(b.add_additional(Record::a("a2.web.instance.internal", 30, {127, 0, 0, 3})));
  std::string wire = b.finish();
  // RFC 2782: the SRV target is written in full, even the second time.
  std::string target = testing::wire_name("a2.web.instance.internal");
  EXPECT_NE(wire.find(target), std::string::npos);
  Message m = reparse(wire);
  ASSERT_EQ(m.answers.size(), 2u);
  EXPECT_EQ(m.answers[1].port, 9002);
  EXPECT_EQ(m.answers[1].weight, 1);
  EXPECT_EQ(m.answers[1].target, "a2.web.instance.internal");
  ASSERT_EQ(m.additional.size(), 2u);
  EXPECT_EQ(m.additional[1].name, "a2.web.instance.internal");
  EXPECT_EQ(m.additional[1].addr[3], 3);
}

TEST(DnsBuild, SoaAndNsAtTheApex) {
  Query q = parsed(query(7, "internal", rr::kSOA));
  ResponseBuilder b(q, udp_limit(q));
  ASSERT_TRUE(b.add_answer(Record::soa_record("internal", 30, zone_soa())));
  ASSERT_TRUE(b.add_authority(Record::ns("internal", 30, "ns.internal")));
  Message m = reparse(b.finish());
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].soa.mname, "ns.internal");
  EXPECT_EQ(m.answers[0].soa.rname, "hostmaster.internal");
  EXPECT_EQ(m.answers[0].soa.serial, 42u);
  EXPECT_EQ(m.answers[0].soa.minimum, 30u);
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].target, "ns.internal");
}

TEST(DnsBuild, NxdomainAndNodataCarryTheSoa) {
  Query q = parsed(query(8, "nope.internal", rr::kA));
  Record soa = Record::soa_record("internal", 30, zone_soa());
  Message m = reparse(negative_response(q, rcode::kNxDomain, soa, udp_limit(q)));
  EXPECT_EQ(m.rcode(), rcode::kNxDomain);
  EXPECT_TRUE(m.header.aa);
  EXPECT_TRUE(m.answers.empty());
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].type, rr::kSOA);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "nope.internal");
  Message nodata = reparse(negative_response(q, rcode::kNoError, soa, udp_limit(q)));
  EXPECT_EQ(nodata.rcode(), rcode::kNoError);
  EXPECT_EQ(nodata.authority.size(), 1u);
}

TEST(DnsBuild, Edns0IsEchoedWithOurPayloadSize) {
  Query q = parsed(query(9, "web.internal", rr::kA, 4096));
  EXPECT_EQ(udp_limit(q), 1232u);
  EXPECT_EQ(udp_limit(parsed(query(9, "web.internal", rr::kA, 700))), 700u);
  EXPECT_EQ(udp_limit(parsed(query(9, "web.internal", rr::kA, 100))), 512u);
  EXPECT_EQ(udp_limit(parsed(query(9, "web.internal", rr::kA))), 512u);
  ResponseBuilder b(q, udp_limit(q));
  ASSERT_TRUE(b.add_answer(Record::a("web.internal", 30, {10, 0, 0, 7})));
  Message m = reparse(b.finish());
  EXPECT_TRUE(m.edns.present);
  EXPECT_EQ(m.edns.udp_size, kEdnsPayload);
  EXPECT_EQ(m.edns.version, 0);
  EXPECT_TRUE(m.additional.empty());  // OPT is lifted out
  // No OPT in the answer to a query without one.
  Query plain = parsed(query(9, "web.internal", rr::kA));
  EXPECT_FALSE(reparse(ResponseBuilder(plain, 512).finish()).edns.present);
}

TEST(DnsBuild, BadversForVersion1) {
  Query q = parsed(query(10, "web.internal", rr::kA, 1232, 1));
  std::string wire = error_response(q, rcode::kBadVers);
  Message m = reparse(wire);
  EXPECT_EQ(m.header.rcode, 0);    // 16: low bits 0 in the header...
  EXPECT_EQ(m.edns.ext_rcode, 1);  // ...and 1 in the OPT
  EXPECT_EQ(m.rcode(), rcode::kBadVers);
  EXPECT_EQ(m.edns.version, 0);
  EXPECT_FALSE(m.header.aa);
}

TEST(DnsBuild, ErrorResponses) {
  Query q = parsed(query(11, "example.com", rr::kA));
  for (uint16_t rc : {rcode::kRefused, rcode::kNotImp, rcode::kServFail}) {
    Message m = reparse(error_response(q, rc));
    EXPECT_EQ(m.rcode(), rc);
    EXPECT_EQ(m.header.id, 11);
    EXPECT_TRUE(m.header.rd);
    EXPECT_EQ(m.questions.size(), 1u);
    EXPECT_FALSE(m.edns.present);
  }
  // FORMERR from a failed parse: the header is enough, no question is echoed.
  std::string bad = query(12, "web.internal", rr::kA);
  bad[5] = 2;
  QueryParse p = parse_query(bad);
  ASSERT_EQ(p.status, ParseStatus::kFormErr);
  Message m = reparse(error_response(p.query, rcode::kFormErr));
  EXPECT_EQ(m.header.id, 12);
  EXPECT_EQ(m.rcode(), rcode::kFormErr);
  EXPECT_TRUE(m.questions.empty());
}

// 100 A records: each takes 16 bytes after the first owner name, so neither limit holds them.
void expect_truncated_at(size_t limit, const std::string& wire_query) {
  Query q = parsed(wire_query);
  ASSERT_EQ(udp_limit(q), limit);
  ResponseBuilder b(q, udp_limit(q));
  int added = 0;
  for (int i = 0; i < 100; ++i) {
    if (b.add_answer(
            Record::a("web.internal", 30,
                      {10, 0, static_cast<uint8_t>(i / 256), static_cast<uint8_t>(i % 256)}))) {
      ++added;
    }
  }
  EXPECT_FALSE(b.add_additional(Record::a("x.internal", 30, {1, 2, 3, 4})));
  EXPECT_TRUE(b.truncated());
  std::string wire = b.finish();
  EXPECT_LE(wire.size(), limit);
  EXPECT_GT(wire.size() + 16, limit);  // filled up to the last whole record
  Message m = reparse(wire);
  EXPECT_TRUE(m.header.tc);
  EXPECT_EQ(static_cast<int>(m.answers.size()), added);
  EXPECT_GT(added, 0);
  EXPECT_LT(added, 100);
}

TEST(DnsBuild, TruncationAt512WithoutEdns) {
  expect_truncated_at(512, query(13, "web.internal", rr::kA));
}

TEST(DnsBuild, TruncationAt1232WithEdns) {
  expect_truncated_at(1232, query(14, "web.internal", rr::kA, 4096));
  Query q = parsed(query(14, "web.internal", rr::kA, 4096));
  ResponseBuilder b(q, kTcpLimit);  // TCP carries the whole answer
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(b.add_answer(Record::a("web.internal", 30, {10, 0, 0, 1})));
  EXPECT_FALSE(b.truncated());
  EXPECT_EQ(reparse(b.finish()).answers.size(), 100u);
}

TEST(DnsBuild, AdditionalIsDroppedBeforeAnswersWithoutTc) {
  Query q = parsed(query(15, "_web._tcp.internal", rr::kSRV));
  ResponseBuilder b(q, 512);
  int srv = 0, extra = 0;
  for (int i = 0; i < 8; ++i) {
    srv += b.add_answer(Record::srv("_web._tcp.internal", 30, 0, 1, 9000,
                                    "i" + std::to_string(i) + ".web.instance.internal"));
  }
  for (int i = 0; i < 8; ++i) {
    extra += b.add_additional(
        Record::a("i" + std::to_string(i) + ".web.instance.internal", 30, {127, 0, 0, 2}));
  }
  EXPECT_EQ(srv, 8);
  EXPECT_LT(extra, 8);
  Message m = reparse(b.finish());
  EXPECT_FALSE(m.header.tc);
  EXPECT_EQ(m.answers.size(), 8u);
  EXPECT_EQ(static_cast<int>(m.additional.size()), extra);
}

TEST(DnsBuild, CompressionShrinksAndDecodesBack) {
  Query q = parsed(query(16, "internal", rr::kNS));
  ResponseBuilder b(q, kTcpLimit);
  ASSERT_TRUE(b.add_answer(Record::ns("internal", 30, "ns.internal")));
  ASSERT_TRUE(b.add_additional(Record::a("ns.internal", 30, {10, 0, 0, 53})));
  std::string wire = b.finish();
  // Uncompressed: header 12 + question 14 + NS (10+10+13) + A (13+10+4) = 86.
  EXPECT_LT(wire.size(), 86u);
  EXPECT_EQ(wire.size(), 12u + 14 + (2 + 10 + 5) + (2 + 10 + 4));
  Message m = reparse(wire);
  EXPECT_EQ(m.answers[0].target, "ns.internal");
  EXPECT_EQ(m.additional[0].name, "ns.internal");
}

TEST(DnsBuild, CompressionIsCaseInsensitiveAndRollsBack) {
  Query q = parsed(query(17, "WEB.internal", rr::kA));
  ResponseBuilder b(q, 12 + 18 + 16);  // room for the question and exactly one A
  ASSERT_TRUE(b.add_answer(Record::a("web.internal", 30, {10, 0, 0, 1})));
  EXPECT_EQ(b.size(), 12u + 18 + 16);  // the owner name became a pointer to the question
  EXPECT_FALSE(b.add_answer(Record::a("other.internal", 30, {10, 0, 0, 2})));
  Message m = reparse(b.finish());
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].name, "WEB.internal");  // decoded through the pointer
}

TEST(DnsBuild, InvalidNamesAreRefusedWithoutDamage) {
  Query q = parsed(query(18, "web.internal", rr::kA));
  ResponseBuilder b(q, kTcpLimit);
  EXPECT_FALSE(b.add_answer(Record::a(std::string(64, 'a') + ".internal", 30, {1, 1, 1, 1})));
  EXPECT_FALSE(b.add_answer(Record::a("a..internal", 30, {1, 1, 1, 1})));
  EXPECT_FALSE(b.add_answer(Record::srv("x.internal", 30, 0, 0, 1, std::string(300, 'a'))));
  EXPECT_TRUE(b.add_answer(Record::raw("web.internal", rr::kTXT, 30, bytes({3, 'a', 'b', 'c'}))));
  EXPECT_FALSE(b.truncated());
  Message m = reparse(b.finish());
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].rdata, bytes({3, 'a', 'b', 'c'}));
}

}  // namespace
}  // namespace cw::dns
