// Zone: every answer SPEC 5 lists, read back with the codec's own message parser.
#include "nameserver/zone.h"

#include <set>

#include <gtest/gtest.h>

#include "dns/name.h"

namespace cw::nameserver {
namespace {

using dns::Message;

// A query on the wire: id, name, type, optional EDNS (size, version), flags.
std::string query(const std::string& name, uint16_t type, int edns_size = -1,
                  uint8_t edns_version = 0, uint16_t id = 0x1234, bool rd = true,
                  uint8_t opcode = 0, uint16_t qclass = dns::kClassIN) {
  std::string w;
  auto u16 = [&](uint16_t v) {
    w += char(v >> 8);
    w += char(v & 0xff);
  };
  u16(id);
  w += char((opcode << 3) | (rd ? 1 : 0));
  w += char(0);
  u16(1);
  u16(0);
  u16(0);
  u16(edns_size >= 0 ? 1 : 0);
  size_t start = 0;
  while (start <= name.size() && !name.empty()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    w += char(dot - start);
    w += name.substr(start, dot - start);
    start = dot + 1;
  }
  w += char(0);
  u16(type);
  u16(qclass);
  if (edns_size >= 0) {
    w += char(0);
    u16(dns::rr::kOPT);
    u16(uint16_t(edns_size));
    w += char(0);  // ext rcode
    w += char(edns_version);
    u16(0);
    u16(0);
  }
  return w;
}

ZoneInput input() {
  ZoneInput in;
  in.domain = "internal";
  in.ttl = 5;
  in.serial = 42;
  in.ns_addresses = {"127.0.0.1"};
  ZoneService api{"api", {}};
  api.instances.push_back({"api-1", "127.0.0.2", 9001, 3, {"canary"}, true});
  api.instances.push_back({"api-2", "127.0.0.3", 9002, 1, {}, true});
  api.instances.push_back({"api-3", "::1", 9003, 1, {}, true});
  api.instances.push_back({"api-4", "127.0.0.4", 9004, 1, {"old"}, false});  // not serving
  in.services.push_back(api);
  in.services.push_back(ZoneService{"empty", {{"e1", "127.0.0.9", 1, 1, {}, false}}});
  return in;
}

Message ask(const Zone& z, const std::string& wire, Transport t = Transport::kUdp,
            uint32_t rotation = 0) {
  std::string out;
  z.respond(wire, t, rotation, out);
  Message m;
  EXPECT_FALSE(out.empty());
  const char* err = dns::parse_message(out, m);
  EXPECT_EQ(err, nullptr) << err;
  return m;
}

TEST(Zone, ServiceAddressesAreTheServingInstancesRotated) {
  auto z = Zone::build(input());
  Message m = ask(*z, query("api.internal", dns::rr::kA));
  EXPECT_EQ(m.header.id, 0x1234);
  EXPECT_TRUE(m.header.qr);
  EXPECT_TRUE(m.header.aa);
  EXPECT_TRUE(m.header.rd);  // copied from the query
  EXPECT_EQ(m.rcode(), dns::rcode::kNoError);
  ASSERT_EQ(m.answers.size(), 2u);  // api-3 is IPv6, api-4 does not serve
  EXPECT_EQ(m.answers[0].ttl, 5u);
  std::set<uint8_t> first;
  for (uint32_t r = 0; r < 4; ++r) {
    Message mr = ask(*z, query("api.internal", dns::rr::kA), Transport::kUdp, r);
    first.insert(mr.answers[0].addr[3]);
  }
  EXPECT_EQ(first, (std::set<uint8_t>{2, 3}));  // each instance comes first in turn

  Message six = ask(*z, query("api.internal", dns::rr::kAAAA));
  ASSERT_EQ(six.answers.size(), 1u);
  EXPECT_EQ(six.answers[0].addr[15], 1);
}

TEST(Zone, SrvAnswersCarryTargetsThatResolve) {
  auto z = Zone::build(input());
  for (const char* name : {"_api._tcp.internal", "api.internal"}) {
    Message m = ask(*z, query(name, dns::rr::kSRV));
    ASSERT_EQ(m.answers.size(), 3u) << name;
    std::set<std::string> targets;
    for (const auto& a : m.answers) {
      EXPECT_EQ(a.priority, 0);
      targets.insert(a.target);
      if (a.target == "api-1.api.instance.internal") {
        EXPECT_EQ(a.weight, 3);
        EXPECT_EQ(a.port, 9001);
      }
    }
    EXPECT_EQ(targets, (std::set<std::string>{"api-1.api.instance.internal",
                                              "api-2.api.instance.internal",
                                              "api-3.api.instance.internal"}));
    EXPECT_EQ(m.additional.size(), 3u);  // the targets' addresses fit
  }
  Message t = ask(*z, query("api-3.api.instance.internal", dns::rr::kAAAA));
  ASSERT_EQ(t.answers.size(), 1u);
  Message t4 = ask(*z, query("api-3.api.instance.internal", dns::rr::kA));
  EXPECT_EQ(t4.rcode(), dns::rcode::kNoError);
  EXPECT_TRUE(t4.answers.empty());  // NODATA: the other family
  ASSERT_EQ(t4.authority.size(), 1u);
  EXPECT_EQ(t4.authority[0].type, dns::rr::kSOA);
}

TEST(Zone, TagsApexAndNegativeAnswers) {
  auto z = Zone::build(input());
  Message tag = ask(*z, query("canary.api.internal", dns::rr::kA));
  ASSERT_EQ(tag.answers.size(), 1u);
  EXPECT_EQ(tag.answers[0].addr[3], 2);
  // A tag only a non-serving instance has: the name exists, nothing is handed out.
  Message old = ask(*z, query("old.api.internal", dns::rr::kA));
  EXPECT_EQ(old.rcode(), dns::rcode::kNoError);
  EXPECT_TRUE(old.answers.empty());
  Message none = ask(*z, query("blue.api.internal", dns::rr::kA));
  EXPECT_EQ(none.rcode(), dns::rcode::kNxDomain);
  ASSERT_EQ(none.authority.size(), 1u);
  EXPECT_EQ(none.authority[0].soa.serial, 42u);
  EXPECT_EQ(none.authority[0].soa.minimum, 5u);

  Message soa = ask(*z, query("internal", dns::rr::kSOA));
  ASSERT_EQ(soa.answers.size(), 1u);
  EXPECT_EQ(soa.answers[0].soa.mname, "ns.internal");
  EXPECT_EQ(soa.answers[0].soa.rname, "hostmaster.internal");
  Message ns = ask(*z, query("internal", dns::rr::kNS));
  ASSERT_EQ(ns.answers.size(), 1u);
  EXPECT_EQ(ns.answers[0].target, "ns.internal");
  EXPECT_EQ(ns.additional.size(), 1u);  // glue
  EXPECT_EQ(ask(*z, query("ns.internal", dns::rr::kA)).answers.size(), 1u);

  // Empty non-terminals and a service with nothing serving: NODATA, not NXDOMAIN.
  for (const char* n : {"instance.internal", "api.instance.internal", "_tcp.internal",
                        "empty.internal"}) {
    Message m = ask(*z, query(n, dns::rr::kA));
    EXPECT_EQ(m.rcode(), dns::rcode::kNoError) << n;
    EXPECT_TRUE(m.answers.empty()) << n;
  }
  EXPECT_EQ(ask(*z, query("nope.internal", dns::rr::kA)).rcode(), dns::rcode::kNxDomain);
  EXPECT_EQ(ask(*z, query("api.internal", dns::rr::kTXT)).rcode(), dns::rcode::kNoError);
}

TEST(Zone, RefusalsAndErrors) {
  auto z = Zone::build(input());
  EXPECT_EQ(ask(*z, query("example.com", dns::rr::kA)).rcode(), dns::rcode::kRefused);
  EXPECT_EQ(ask(*z, query("notinternal", dns::rr::kA)).rcode(), dns::rcode::kRefused);
  EXPECT_EQ(ask(*z, query("internal", 252)).rcode(), dns::rcode::kRefused);  // AXFR
  EXPECT_EQ(ask(*z, query("api.internal", dns::rr::kA, -1, 0, 1, true, 0, 3)).rcode(),
            dns::rcode::kRefused);  // CHAOS
  EXPECT_EQ(ask(*z, query("api.internal", dns::rr::kA, -1, 0, 1, true, 2)).rcode(),
            dns::rcode::kNotImp);  // STATUS
  Message bv = ask(*z, query("api.internal", dns::rr::kA, 1232, 1));
  EXPECT_EQ(bv.rcode(), dns::rcode::kBadVers);
  // Malformed: FORMERR or nothing, never a crash.
  std::string q = query("api.internal", dns::rr::kA);
  std::string out;
  for (size_t cut = 0; cut < q.size(); ++cut) z->respond(q.substr(0, cut), Transport::kUdp, 0, out);
  std::string resp = q;
  resp[2] = char(resp[2] | 0x80);  // QR=1: dropped
  z->respond(resp, Transport::kUdp, 0, out);
  EXPECT_TRUE(out.empty());
}

TEST(Zone, EdnsLimitsTruncationAndTcp) {
  ZoneInput in;
  in.serial = 1;
  ZoneService big{"big", {}};
  for (int i = 0; i < 100; ++i) {
    big.instances.push_back({"i" + std::to_string(i), "10.0.0." + std::to_string(i + 1),
                             uint16_t(1000 + i), 1, {}, true});
  }
  in.services.push_back(big);
  auto z = Zone::build(in);
  std::string out;
  z->respond(query("big.internal", dns::rr::kA), Transport::kUdp, 0, out);
  EXPECT_LE(out.size(), 512u);
  Message plain;
  ASSERT_EQ(dns::parse_message(out, plain), nullptr);
  EXPECT_TRUE(plain.header.tc);
  z->respond(query("big.internal", dns::rr::kA, 4096), Transport::kUdp, 0, out);
  EXPECT_LE(out.size(), 1232u);
  Message edns;
  ASSERT_EQ(dns::parse_message(out, edns), nullptr);
  EXPECT_TRUE(edns.header.tc);
  EXPECT_TRUE(edns.edns.present);
  z->respond(query("big.internal", dns::rr::kA, 800), Transport::kUdp, 0, out);  // built per query
  EXPECT_LE(out.size(), 800u);
  Message tcp = ask(*z, query("big.internal", dns::rr::kA), Transport::kTcp);
  EXPECT_FALSE(tcp.header.tc);
  EXPECT_EQ(tcp.answers.size(), 100u);
  Message srv = ask(*z, query("_big._tcp.internal", dns::rr::kSRV), Transport::kTcp);
  EXPECT_EQ(srv.answers.size(), 100u);
}

TEST(Zone, QuestionCaseIsEchoedAndAnyIsMinimal) {
  auto z = Zone::build(input());
  Message m = ask(*z, query("ApI.InTeRnAl", dns::rr::kA, -1, 0, 7, false));
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "ApI.InTeRnAl");
  EXPECT_FALSE(m.header.rd);
  EXPECT_EQ(m.answers.size(), 2u);
  Message any = ask(*z, query("api.internal", dns::rr::kANY));
  ASSERT_FALSE(any.answers.empty());
  const uint16_t t = any.answers[0].type;
  for (const auto& a : any.answers) EXPECT_EQ(a.type, t);  // one RRset (RFC 8482)
}

}  // namespace
}  // namespace cw::nameserver
