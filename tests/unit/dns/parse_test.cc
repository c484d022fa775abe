// parse_query/parse_message: well-formed queries, EDNS0, and every malformed shape giving
// FORMERR or drop (never a crash or an out-of-bounds read).
#include <gtest/gtest.h>

#include <string>

#include "dns/message.h"
#include "dns_test_util.h"

namespace cw::dns {
namespace {

using testing::bytes;
using testing::query;

TEST(DnsParse, PlainAQueryHandBuilt) {
  // id 0xbeef, RD, one question: web.internal A IN.
  std::string wire = bytes({0xbe, 0xef, 0x01, 0x00, 0,   1,   0,   0,   0,   0,   0, 0, 3, 'W', 'e',
                            'b',  8,    'i',  'n',  't', 'e', 'r', 'n', 'a', 'l', 0, 0, 1, 0,   1});
  QueryParse p = parse_query(wire);
  ASSERT_EQ(p.status, ParseStatus::kOk) << p.reason;
  EXPECT_EQ(p.query.header.id, 0xbeef);
  EXPECT_TRUE(p.query.header.rd);
  EXPECT_FALSE(p.query.header.qr);
  ASSERT_TRUE(p.query.has_question);
  EXPECT_EQ(p.query.question.name, "Web.internal");  // case kept for the echo
  EXPECT_EQ(p.query.qname_lower, "web.internal");
  EXPECT_EQ(p.query.question.type, rr::kA);
  EXPECT_EQ(p.query.question.qclass, kClassIN);
  EXPECT_FALSE(p.query.edns.present);
}

TEST(DnsParse, AaaaAndSrvQuestions) {
  QueryParse p = parse_query(query(7, "web.internal", rr::kAAAA));
  ASSERT_EQ(p.status, ParseStatus::kOk) << p.reason;
  EXPECT_EQ(p.query.question.type, rr::kAAAA);
  p = parse_query(query(8, "_web._tcp.internal", rr::kSRV));
  ASSERT_EQ(p.status, ParseStatus::kOk) << p.reason;
  EXPECT_EQ(p.query.question.type, rr::kSRV);
  EXPECT_EQ(p.query.question.name, "_web._tcp.internal");
}

TEST(DnsParse, Edns0PayloadVersionAndDo) {
  QueryParse p = parse_query(query(9, "web.internal", rr::kA, 4096));
  ASSERT_EQ(p.status, ParseStatus::kOk) << p.reason;
  EXPECT_TRUE(p.query.edns.present);
  EXPECT_EQ(p.query.edns.udp_size, 4096);
  EXPECT_EQ(p.query.edns.version, 0);
  EXPECT_TRUE(p.query.edns.do_bit);
  p = parse_query(query(9, "web.internal", rr::kA, 1232, 1));
  ASSERT_EQ(p.status, ParseStatus::kOk) << p.reason;
  EXPECT_EQ(p.query.edns.version, 1);  // the server answers BADVERS
}

TEST(DnsParse, RootNameQuestion) {
  QueryParse p = parse_query(query(1, "", rr::kNS));
  ASSERT_EQ(p.status, ParseStatus::kOk) << p.reason;
  EXPECT_EQ(p.query.question.name, "");
}

TEST(DnsParse, CompressedQuestionNameInsideAdditionalIsFollowed) {
  // A name in an additional record may point back at the question's name.
  std::string wire = query(2, "web.internal", rr::kA);
  wire[11] = 1;  // ARCOUNT 1
  wire += bytes({0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1});
  Message m;
  ASSERT_EQ(parse_message(wire, m), nullptr);
  ASSERT_EQ(m.additional.size(), 1u);
  EXPECT_EQ(m.additional[0].name, "web.internal");
  EXPECT_EQ(m.additional[0].addr[3], 1);
}

TEST(DnsParse, NonQueryOpcodeIsOkForNotimp) {
  std::string wire = query(3, "web.internal", rr::kA);
  wire[2] = static_cast<char>(2 << 3);  // opcode STATUS
  QueryParse p = parse_query(wire);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.query.header.opcode, 2);
  EXPECT_FALSE(p.query.has_question);
}

// ---- malformed: each is FORMERR or drop ----------------------------------------------------

ParseStatus status_of(const std::string& wire) { return parse_query(wire).status; }

TEST(DnsParseMalformed, TruncatedHeaderIsDropped) {
  EXPECT_EQ(status_of(""), ParseStatus::kDrop);
  EXPECT_EQ(status_of(bytes({0x12})), ParseStatus::kDrop);
  EXPECT_EQ(status_of(query(1, "a", 1).substr(0, 11)), ParseStatus::kDrop);
}

TEST(DnsParseMalformed, ResponsesAreDropped) {
  std::string wire = query(1, "web.internal", rr::kA);
  wire[2] = static_cast<char>(wire[2] | 0x80);
  EXPECT_EQ(status_of(wire), ParseStatus::kDrop);
}

TEST(DnsParseMalformed, QdcountZeroAndTwo) {
  std::string wire = query(1, "web.internal", rr::kA);
  std::string zero = wire.substr(0, 12);
  zero[5] = 0;
  QueryParse p = parse_query(zero);
  EXPECT_EQ(p.status, ParseStatus::kFormErr);
  EXPECT_EQ(p.query.header.id, 1);  // enough to answer FORMERR
  std::string two = wire + wire.substr(12);
  two[5] = 2;
  EXPECT_EQ(status_of(two), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, LabelLongerThan63) {
  std::string wire = query(1, std::string(63, 'a') + ".internal", rr::kA);
  EXPECT_EQ(status_of(wire), ParseStatus::kOk);
  wire[12] = 64;  // 0x40: a reserved label type, and too long either way
  EXPECT_EQ(status_of(wire), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, NameLongerThan255) {
  std::string l63(63, 'a');
  std::string ok = l63 + "." + l63 + "." + l63 + "." + std::string(61, 'b');  // 255 on the wire
  EXPECT_EQ(status_of(query(1, ok, rr::kA)), ParseStatus::kOk);
  std::string too_long = l63 + "." + l63 + "." + l63 + "." + std::string(62, 'b');
  QueryParse p = parse_query(query(1, too_long, rr::kA));
  EXPECT_EQ(p.status, ParseStatus::kFormErr);
  EXPECT_STREQ(p.reason, "name longer than 255 octets");
}

TEST(DnsParseMalformed, PointerToItself) {
  std::string wire = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1});
  EXPECT_EQ(status_of(wire), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, TwoPointersAtEachOther) {
  // offset 12: label "a" then a pointer to 17; offset 17: pointer back to 12.
  std::string wire =
      bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xC0, 17, 0, 0xC0, 12, 0, 1, 0, 1});
  EXPECT_EQ(status_of(wire), ParseStatus::kFormErr);
  // The same loop reached from an additional record's owner name.
  std::string wire2 = query(1, "a", rr::kA);
  wire2[11] = 1;
  size_t at = wire2.size();
  wire2 += bytes(
      {0xC0, static_cast<int>(at + 2), 0xC0, static_cast<int>(at), 0, 41, 2, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(status_of(wire2), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, PointerPastTheEnd) {
  std::string wire = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 200, 0, 1, 0, 1});
  EXPECT_EQ(status_of(wire), ParseStatus::kFormErr);
  std::string half = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0});  // pointer cut short
  EXPECT_EQ(status_of(half), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, LabelPastTheEnd) {
  std::string wire = bytes({0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 'a', 'b'});
  EXPECT_EQ(status_of(wire), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, OptTwice) {
  std::string wire = query(1, "web.internal", rr::kA, 1232);
  std::string opt = wire.substr(wire.size() - 11);
  wire += opt;
  wire[11] = 2;
  QueryParse p = parse_query(wire);
  EXPECT_EQ(p.status, ParseStatus::kFormErr);
  EXPECT_STREQ(p.reason, "more than one OPT record");
}

TEST(DnsParseMalformed, OptWithANameOrInAnswers) {
  std::string wire = query(1, "web.internal", rr::kA, 1232);
  std::string named =
      wire.substr(0, wire.size() - 11) + bytes({1, 'x'}) + wire.substr(wire.size() - 10);
  EXPECT_EQ(status_of(named), ParseStatus::kFormErr);
  std::string in_answers = wire;
  in_answers[7] = 1;   // ANCOUNT 1
  in_answers[11] = 0;  // ARCOUNT 0
  EXPECT_EQ(status_of(in_answers), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, CountsLargerThanTheData) {
  std::string wire = query(1, "web.internal", rr::kA);
  for (int field : {5, 7, 9, 11}) {
    std::string w = wire;
    w[field] = static_cast<char>(w[field] + 3);
    EXPECT_EQ(status_of(w), ParseStatus::kFormErr) << "count at byte " << field;
  }
  std::string big = wire;
  big[4] = static_cast<char>(0xFF);
  big[5] = static_cast<char>(0xFF);
  EXPECT_EQ(status_of(big), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, QuestionCutShortAndRdataLengthLies) {
  std::string wire = query(1, "web.internal", rr::kA);
  EXPECT_EQ(status_of(wire.substr(0, wire.size() - 1)), ParseStatus::kFormErr);
  std::string with_a = wire;
  with_a[11] = 1;
  with_a += bytes({0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 10, 0, 0, 1, 9});  // A with 5 bytes
  EXPECT_EQ(status_of(with_a), ParseStatus::kFormErr);
  std::string past = wire;
  past[11] = 1;
  past += bytes({0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 40, 10, 0, 0, 1});  // rdlength past end
  EXPECT_EQ(status_of(past), ParseStatus::kFormErr);
}

TEST(DnsParseMalformed, EveryPrefixOfAValidQueryIsSafe) {
  std::string wire = query(1, "_web._tcp.internal", rr::kSRV, 1232);
  for (size_t n = 0; n < wire.size(); ++n) {
    ParseStatus s = status_of(wire.substr(0, n));
    EXPECT_NE(s, ParseStatus::kOk) << "prefix " << n;
  }
}

}  // namespace
}  // namespace cw::dns
