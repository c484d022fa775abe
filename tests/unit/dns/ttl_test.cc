// dns/ttl.h: the layout of forwarded answers, how long they are cached, TTLs aged in place and
// the copy each client gets. Answers are built with the codec's builder and read back with
// parse_message.
#include "dns/ttl.h"

#include <gtest/gtest.h>

#include "dns/builder.h"
#include "dns_test_util.h"

namespace cw::dns {
namespace {

using testing::query;

Query parsed(const std::string& wire) {
  QueryParse p = parse_query(wire);
  EXPECT_EQ(p.status, ParseStatus::kOk);
  return p.query;
}

Soa soa(uint32_t minimum) { return Soa{"ns.test", "hostmaster.test", 1, 3600, 600, 86400, minimum}; }

// An upstream answer to `q`: rcode, answers, authority, additional (OPT when q had EDNS).
std::string answer(const Query& q, uint16_t rc, std::initializer_list<Record> an,
                   std::initializer_list<Record> ns = {}, std::initializer_list<Record> ar = {}) {
  ResponseBuilder b(q, kTcpLimit);
  b.set_authoritative(false);
  b.set_rcode(rc);
  for (const Record& r : an) b.add_answer(r);
  for (const Record& r : ns) b.add_authority(r);
  for (const Record& r : ar) b.add_additional(r);
  return b.finish();
}

Layout layout_of(const std::string& wire) {
  Layout l;
  EXPECT_EQ(read_layout(wire, l), nullptr);
  return l;
}

TEST(DnsTtl, LayoutFindsEveryRecordAndItsTtl) {
  Query q = parsed(query(7, "example.test", rr::kA, 1232));
  std::string w = answer(q, rcode::kNoError, {Record::a("example.test", 30, {10, 0, 0, 1})},
                         {Record::ns("test", 40, "ns.test")},
                         {Record::a("ns.test", 50, {10, 0, 0, 2})});
  Layout l = layout_of(w);
  ASSERT_EQ(l.records.size(), 4u);  // with OPT
  EXPECT_EQ(l.records[0].section, 0);
  EXPECT_EQ(l.records[1].section, 1);
  EXPECT_EQ(l.records[2].section, 2);
  EXPECT_EQ(l.records[3].type, rr::kOPT);
  EXPECT_EQ(l.records[3].end, w.size());
  EXPECT_EQ(l.question_end, kHeaderSize + 14 + 4);
}

TEST(DnsTtl, LayoutRefusesWhatParseMessageRefuses) {
  Query q = parsed(query(7, "example.test", rr::kA));
  std::string w = answer(q, rcode::kNoError, {Record::a("example.test", 30, {10, 0, 0, 1})});
  Layout l;
  EXPECT_NE(read_layout(w.substr(0, w.size() - 1), l), nullptr);  // rdata cut
  EXPECT_NE(read_layout(w.substr(0, 5), l), nullptr);
  // A forward compression pointer in the answer's owner name.
  std::string bad = w;
  bad[kHeaderSize + 14 + 4] = char(0xC0);
  bad[kHeaderSize + 14 + 5] = char(0x40);
  EXPECT_NE(read_layout(bad, l), nullptr);
  // Backward pointers, but into bytes a client's copy rewrites: the header, a TTL.
  std::string into_header = w;
  into_header[kHeaderSize + 14 + 4] = char(0xC0);
  into_header[kHeaderSize + 14 + 5] = char(0x02);
  EXPECT_NE(read_layout(into_header, l), nullptr);
  Query q2 = parsed(query(7, "example.test", rr::kNS));
  std::string two = answer(q2, rcode::kNoError, {Record::ns("example.test", 30, "a.test"),
                                                  Record::ns("example.test", 30, "b.test")});
  Layout ok = layout_of(two);
  ASSERT_EQ(ok.records.size(), 2u);
  std::string into_ttl = two;
  into_ttl[ok.records[1].start] = char(0xC0);  // the second owner name: at the first's TTL
  into_ttl[ok.records[1].start + 1] = char(ok.records[0].ttl_at);
  EXPECT_NE(read_layout(into_ttl, l), nullptr);
}

TEST(DnsTtl, PositiveIsTheSmallestTtlOfEveryRecordButOpt) {
  Query q = parsed(query(7, "example.test", rr::kA, 1232));
  std::string w = answer(q, rcode::kNoError,
                         {Record::a("example.test", 300, {10, 0, 0, 1}),
                          Record::a("example.test", 200, {10, 0, 0, 2})},
                         {Record::ns("test", 100, "ns.test")},
                         {Record::a("ns.test", 50, {10, 0, 0, 3})});
  CacheTtl t = cache_ttl(w, layout_of(w));
  EXPECT_EQ(t.kind, CacheTtl::kPositive);
  EXPECT_EQ(t.ttl, 50u);
}

TEST(DnsTtl, TtlWithTheTopBitSetCountsAsZero) {
  Query q = parsed(query(7, "example.test", rr::kA));
  std::string w = answer(q, rcode::kNoError, {Record::a("example.test", 0x80000000u, {1, 2, 3, 4})});
  EXPECT_EQ(cache_ttl(w, layout_of(w)).ttl, 0u);
}

TEST(DnsTtl, NegativeIsTheSoaTtlOrItsMinimumWhicheverIsLess) {
  Query q = parsed(query(7, "missing.test", rr::kA));
  std::string nx = answer(q, rcode::kNxDomain, {}, {Record::soa_record("test", 600, soa(60))});
  CacheTtl t = cache_ttl(nx, layout_of(nx));
  EXPECT_EQ(t.kind, CacheTtl::kNegative);
  EXPECT_EQ(t.ttl, 60u);
  std::string nodata = answer(q, rcode::kNoError, {}, {Record::soa_record("test", 30, soa(60))});
  t = cache_ttl(nodata, layout_of(nodata));
  EXPECT_EQ(t.kind, CacheTtl::kNegative);
  EXPECT_EQ(t.ttl, 30u);
}

TEST(DnsTtl, NotCachedWithoutSoaOnErrorsOrTruncated) {
  Query q = parsed(query(7, "missing.test", rr::kA));
  std::string nx = answer(q, rcode::kNxDomain, {});
  EXPECT_EQ(cache_ttl(nx, layout_of(nx)).kind, CacheTtl::kNone);
  std::string sf = answer(q, rcode::kServFail, {}, {Record::soa_record("test", 600, soa(60))});
  EXPECT_EQ(cache_ttl(sf, layout_of(sf)).kind, CacheTtl::kNone);
  std::string refused = answer(q, rcode::kRefused, {});
  EXPECT_EQ(cache_ttl(refused, layout_of(refused)).kind, CacheTtl::kNone);
  std::string tc = answer(q, rcode::kNoError, {Record::a("missing.test", 30, {1, 2, 3, 4})});
  tc[2] = char(uint8_t(tc[2]) | 0x02);
  EXPECT_EQ(cache_ttl(tc, layout_of(tc)).kind, CacheTtl::kNone);
}

TEST(DnsTtl, AgeLowersEveryTtlFlooredAtZeroAndSkipsOpt) {
  Query q = parsed(query(7, "example.test", rr::kA, 1232));
  std::string w = answer(q, rcode::kNoError,
                         {Record::a("example.test", 300, {10, 0, 0, 1}),
                          Record::a("example.test", 20, {10, 0, 0, 2})},
                         {}, {});
  Layout l = layout_of(w);
  const std::string opt_before = w.substr(l.records.back().start);
  age_ttls(w, l, 100);
  Message m;
  ASSERT_EQ(parse_message(w, m), nullptr);
  EXPECT_EQ(m.answers[0].ttl, 200u);
  EXPECT_EQ(m.answers[1].ttl, 0u);
  EXPECT_EQ(w.substr(l.records.back().start), opt_before);
}

TEST(DnsTtl, ClientCopyTakesTheClientsIdFlagsCaseAndAge) {
  Query up = parsed(query(0x1111, "example.test", rr::kA, 1232));
  std::string w = answer(up, rcode::kNoError, {Record::a("example.test", 300, {10, 0, 0, 1})});
  w[2] = char(uint8_t(w[2]) | 0x04);  // AA from upstream: not ours to claim
  Layout l = layout_of(w);
  const std::string client = query(0x2222, "ExAmPlE.TeSt", rr::kA);
  ClientView c{0x2222, false, false, question_name_wire(client), kPlainUdpLimit};
  std::string out = client_response(w, l, c, 10);
  Message m;
  ASSERT_EQ(parse_message(out, m), nullptr);
  EXPECT_EQ(m.header.id, 0x2222);
  EXPECT_TRUE(m.header.qr);
  EXPECT_TRUE(m.header.ra);
  EXPECT_FALSE(m.header.rd);
  EXPECT_FALSE(m.header.aa);
  EXPECT_FALSE(m.header.tc);
  EXPECT_FALSE(m.edns.present);  // the client sent none
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "ExAmPlE.TeSt");
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ttl, 290u);
  EXPECT_EQ(m.answers[0].name, "ExAmPlE.TeSt");  // a pointer to the question
}

TEST(DnsTtl, ClientCopyCarriesOurOptWithTheUpstreamDoBit) {
  Query up = parsed(query(1, "example.test", rr::kA, 4096));
  std::string w = answer(up, rcode::kNoError, {Record::a("example.test", 300, {10, 0, 0, 1})});
  Layout l = layout_of(w);
  // Set DO in the upstream OPT (the builder writes it clear).
  w[l.records.back().ttl_at + 2] = char(0x80);
  ClientView c{9, true, true, {}, kEdnsPayload};
  std::string out = client_response(w, l, c, 0);
  Message m;
  ASSERT_EQ(parse_message(out, m), nullptr);
  EXPECT_TRUE(m.edns.present);
  EXPECT_EQ(m.edns.udp_size, kEdnsPayload);
  EXPECT_TRUE(m.edns.do_bit);
  EXPECT_TRUE(m.header.rd);
}

TEST(DnsTtl, ClientCopyKeepsWholeRecordsAndSetsTcWhenAnswersDoNotFit) {
  Query up = parsed(query(1, "big.test", rr::kA, 1232));
  ResponseBuilder b(up, kTcpLimit);
  for (int i = 0; i < 60; ++i) b.add_answer(Record::a("big.test", 60, {10, 0, 0, uint8_t(i)}));
  std::string w = b.finish();
  Layout l = layout_of(w);
  ASSERT_GT(w.size(), kPlainUdpLimit);
  for (bool edns : {false, true}) {
    ClientView c{2, true, edns, {}, kPlainUdpLimit};
    std::string out = client_response(w, l, c, 0);
    EXPECT_LE(out.size(), kPlainUdpLimit);
    Message m;
    ASSERT_EQ(parse_message(out, m), nullptr);
    EXPECT_TRUE(m.header.tc);
    EXPECT_GT(m.answers.size(), 10u);
    EXPECT_LT(m.answers.size(), 60u);
    EXPECT_EQ(m.edns.present, edns);
  }
  ClientView tcp{2, true, false, {}, kTcpLimit};
  Message m;
  ASSERT_EQ(parse_message(client_response(w, l, tcp, 0), m), nullptr);
  EXPECT_FALSE(m.header.tc);
  EXPECT_EQ(m.answers.size(), 60u);
}

TEST(DnsTtl, ClientCopyDropsAdditionalRecordsWithoutTc) {
  Query up = parsed(query(1, "srv.test", rr::kSRV));
  ResponseBuilder b(up, kTcpLimit);
  b.add_answer(Record::srv("srv.test", 60, 0, 1, 80, "a.srv.test"));
  for (int i = 0; i < 40; ++i) b.add_additional(Record::aaaa("a.srv.test", 60, {0x20, 1, uint8_t(i)}));
  std::string w = b.finish();
  ClientView c{2, true, false, {}, kPlainUdpLimit};
  Message m;
  ASSERT_EQ(parse_message(client_response(w, layout_of(w), c, 0), m), nullptr);
  EXPECT_FALSE(m.header.tc);
  EXPECT_EQ(m.answers.size(), 1u);
  EXPECT_LT(m.additional.size(), 40u);
}

TEST(DnsTtl, QuestionNameWireIsTheNameAsSent) {
  const std::string q = query(1, "Example.test", rr::kA);
  EXPECT_EQ(question_name_wire(q), testing::wire_name("Example.test"));
  EXPECT_EQ(question_name_wire(q.substr(0, 15)), "");
  std::string ptr = q;
  ptr[kHeaderSize] = char(0xC0);
  EXPECT_EQ(question_name_wire(ptr), "");
}

}  // namespace
}  // namespace cw::dns
