// Forwarder: cache, negative cache, coalescing, failover, spoofing defence and limits, on a
// ManualClock against a fake recursor (a plain UDP socket on 127.0.0.1, answers built with the
// codec's builder). The loop is driven by run_once; time moves only when the test says so.
#include "nameserver/forwarder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <set>

#include <gtest/gtest.h>

#include "dns/builder.h"
#include "runtime/clock.h"

namespace cw::nameserver {
namespace {

using dns::Message;
using dns::Record;

std::string wire_query(uint16_t id, const std::string& name, uint16_t type, int edns = -1) {
  std::string w;
  auto u16 = [&](uint16_t v) {
    w += char(v >> 8);
    w += char(v & 0xff);
  };
  u16(id);
  u16(0x0100);  // RD
  u16(1);
  u16(0);
  u16(0);
  u16(edns >= 0 ? 1 : 0);
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    w += char(dot - start);
    w += name.substr(start, dot - start);
    start = dot + 1;
  }
  w += char(0);
  u16(type);
  u16(dns::kClassIN);
  if (edns >= 0) {
    w += char(0);
    u16(dns::rr::kOPT);
    u16(uint16_t(edns));
    u16(0);
    u16(0);
    u16(0);
  }
  return w;
}

// A recursor in the test: a non-blocking UDP socket on 127.0.0.1, read when the test polls it.
struct FakeRecursor {
  int fd = -1;
  rt::SocketAddress addr;
  int queries = 0;
  sockaddr_in last_from{};
  std::string last_query;
  // How to answer: the response for the parsed query, or nullopt to stay silent.
  std::function<std::optional<std::string>(const dns::Query&)> answer;

  FakeRecursor() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    socklen_t len = sizeof sin;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    addr = rt::SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sin), len);
  }
  ~FakeRecursor() { ::close(fd); }

  void send(const std::string& w, int from_fd = -1) {
    ::sendto(from_fd >= 0 ? from_fd : fd, w.data(), w.size(), 0,
             reinterpret_cast<const sockaddr*>(&last_from), sizeof last_from);
  }
  // Reads every query waiting and answers each as `answer` says.
  void poll() {
    char buf[4096];
    for (;;) {
      socklen_t len = sizeof last_from;
      ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&last_from), &len);
      if (n <= 0) return;
      ++queries;
      last_query.assign(buf, size_t(n));
      dns::QueryParse p = dns::parse_query(last_query);
      EXPECT_EQ(p.status, dns::ParseStatus::kOk);
      if (!answer) continue;
      if (auto a = answer(p.query)) send(*a);
    }
  }
};

std::string response(const dns::Query& q, uint16_t rc, std::vector<Record> an,
                     std::vector<Record> ns = {}) {
  dns::ResponseBuilder b(q, dns::kTcpLimit);
  b.set_authoritative(false);
  b.set_rcode(rc);
  for (const Record& r : an) b.add_answer(r);
  for (const Record& r : ns) b.add_authority(r);
  return b.finish();
}

Record a_record(const std::string& name, uint32_t ttl, uint8_t last = 1) {
  return Record::a(name, ttl, {192, 0, 2, last});
}

Record soa(uint32_t ttl, uint32_t minimum) {
  return Record::soa_record("test", ttl, dns::Soa{"ns.test", "hm.test", 1, 2, 3, 4, minimum});
}

class ForwarderTest : public ::testing::Test {
 protected:
  rt::ManualClock clock;
  rt::EventLoop loop{&clock};
  FakeRecursor up;
  std::vector<std::string> replies;
  std::shared_ptr<Forwarder> fwd;

  void make(std::vector<rt::SocketAddress> recursors, ForwarderLimits limits = {}) {
    fwd = Forwarder::create(loop, std::move(recursors), Forwarder::Upstream::kUdp, limits);
  }
  void TearDown() override {
    if (fwd) fwd->close();
    for (int i = 0; i < 5; ++i) loop.run_once(0);
    loop.run_deferred();
  }

  // Asks; returns the answer when it came at once, else nullopt (it arrives in `replies`).
  std::optional<std::string> ask(uint16_t id, const std::string& name, uint16_t type = dns::rr::kA,
                                 int edns = -1) {
    const std::string w = wire_query(id, name, type, edns);
    dns::QueryParse p = dns::parse_query(w);
    std::string out;
    if (fwd->resolve(p.query, w, edns >= 0 ? dns::udp_limit(p.query) : dns::kPlainUdpLimit, out,
                     [this](std::string a) { replies.push_back(std::move(a)); })) {
      return out;
    }
    return std::nullopt;
  }
  // A few turns of the loop (the exchange starts on the next one), then the recursor reads.
  void turn() {
    for (int i = 0; i < 3; ++i) loop.run_once(0);
    up.poll();
  }
  // Turns the loop and lets the recursors answer until `n` replies arrived (bounded).
  void settle(size_t n, std::initializer_list<FakeRecursor*> extra = {}) {
    for (int i = 0; i < 200 && replies.size() < n; ++i) {
      loop.run_once(1);
      up.poll();
      for (FakeRecursor* r : extra) r->poll();
    }
  }
};

Message parse(const std::string& w) {
  Message m;
  EXPECT_EQ(dns::parse_message(w, m), nullptr);
  return m;
}

TEST_F(ForwarderTest, CacheHitServesTheAnswerWithTtlsAged) {
  make({up.addr});
  up.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 300)});
  };
  EXPECT_FALSE(ask(1, "example.test"));
  settle(1);
  ASSERT_EQ(replies.size(), 1u);
  Message first = parse(replies[0]);
  EXPECT_EQ(first.header.id, 1);
  EXPECT_TRUE(first.header.ra);
  ASSERT_EQ(first.answers.size(), 1u);
  EXPECT_EQ(first.answers[0].ttl, 300u);
  EXPECT_EQ(up.queries, 1);

  clock.advance_ms(100'500);
  loop.run_once(0);
  auto hit = ask(2, "EXAMPLE.test");
  ASSERT_TRUE(hit);
  Message m = parse(*hit);
  EXPECT_EQ(m.header.id, 2);
  EXPECT_EQ(m.questions[0].name, "EXAMPLE.test");
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ttl, 200u);
  EXPECT_EQ(fwd->counters().cache_hits.get(), 1u);
  EXPECT_EQ(up.queries, 1);

  clock.advance_ms(200'000);  // past the TTL: asked again
  loop.run_once(0);
  EXPECT_FALSE(ask(3, "example.test"));
  settle(2);
  EXPECT_EQ(up.queries, 2);
  EXPECT_EQ(fwd->counters().forwarded.get(), 2u);
}

TEST_F(ForwarderTest, UpstreamQueryHasRdEdnsAndARandomId) {
  make({up.addr});
  up.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 30)});
  };
  EXPECT_FALSE(ask(77, "Example.test"));
  settle(1);
  dns::QueryParse p = dns::parse_query(up.last_query);
  EXPECT_TRUE(p.query.header.rd);
  EXPECT_TRUE(p.query.edns.present);
  EXPECT_EQ(p.query.edns.udp_size, dns::kEdnsPayload);
  EXPECT_EQ(p.query.question.name, "Example.test");
  // Not the client's ID (it is drawn at random; one in 65536 would collide by chance).
  EXPECT_NE(p.query.header.id, 77);
}

TEST_F(ForwarderTest, NegativeAnswersAreCachedForTheSoaMinimum) {
  make({up.addr});
  up.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNxDomain, {}, {soa(600, 60)});
  };
  EXPECT_FALSE(ask(1, "missing.test"));
  settle(1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(parse(replies[0]).rcode(), dns::rcode::kNxDomain);
  clock.advance_ms(59'000);
  loop.run_once(0);
  auto hit = ask(2, "missing.test");
  ASSERT_TRUE(hit);
  Message m = parse(*hit);
  EXPECT_EQ(m.rcode(), dns::rcode::kNxDomain);
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].ttl, 600u - 59u);
  clock.advance_ms(2'000);
  loop.run_once(0);
  EXPECT_FALSE(ask(3, "missing.test"));
  settle(2);
  EXPECT_EQ(up.queries, 2);
}

TEST_F(ForwarderTest, NegativeAnswerWithoutSoaIsNotCached) {
  make({up.addr});
  up.answer = [](const dns::Query& q) { return response(q, dns::rcode::kNxDomain, {}); };
  EXPECT_FALSE(ask(1, "missing.test"));
  settle(1);
  EXPECT_FALSE(ask(2, "missing.test"));
  settle(2);
  EXPECT_EQ(up.queries, 2);
  EXPECT_EQ(fwd->entries(), 0u);
}

TEST_F(ForwarderTest, IdenticalQueriesInFlightShareOneUpstreamQuery) {
  make({up.addr});
  up.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 30)});
  };
  for (uint16_t id = 1; id <= 50; ++id) EXPECT_FALSE(ask(id, "example.test"));
  EXPECT_FALSE(ask(51, "example.test", dns::rr::kAAAA));  // another key
  settle(51);
  ASSERT_EQ(replies.size(), 51u);
  EXPECT_EQ(up.queries, 2);
  EXPECT_EQ(fwd->counters().coalesced.get(), 49u);
  std::set<uint16_t> ids;
  for (const std::string& r : replies) ids.insert(parse(r).header.id);
  EXPECT_EQ(ids.size(), 51u);  // each client its own ID
}

TEST_F(ForwarderTest, SilentRecursorTimesOutAndTheNextOneAnswers) {
  FakeRecursor good;
  good.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 30, 9)});
  };
  make({up.addr, good.addr});  // `up` never answers
  EXPECT_FALSE(ask(1, "example.test"));
  settle(1, {&good});
  EXPECT_EQ(up.queries, 1);
  EXPECT_EQ(good.queries, 0);
  EXPECT_TRUE(replies.empty());
  clock.advance_ms(2'000);
  settle(1, {&good});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(good.queries, 1);
  Message m = parse(replies[0]);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].addr[3], 9);
  EXPECT_EQ(fwd->counters().timeouts.get(), 1u);
}

TEST_F(ForwarderTest, EveryRecursorSilentGivesServfail) {
  FakeRecursor other;
  make({up.addr, other.addr});
  EXPECT_FALSE(ask(5, "example.test"));
  settle(1, {&other});
  clock.advance_ms(2'000);
  settle(1, {&other});
  clock.advance_ms(2'000);
  settle(1, {&other});
  ASSERT_EQ(replies.size(), 1u);
  Message m = parse(replies[0]);
  EXPECT_EQ(m.header.id, 5);
  EXPECT_EQ(m.rcode(), dns::rcode::kServFail);
  EXPECT_EQ(fwd->counters().timeouts.get(), 2u);
  EXPECT_EQ(fwd->counters().servfail.get(), 1u);
  EXPECT_EQ(fwd->in_flight(), 0u);
}

TEST_F(ForwarderTest, ExpiredAnswerServesWhenEveryRecursorFails) {
  make({up.addr});
  bool answering = true;
  up.answer = [&answering](const dns::Query& q) -> std::optional<std::string> {
    if (!answering) return std::nullopt;
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 10)});
  };
  EXPECT_FALSE(ask(1, "example.test"));
  settle(1);
  answering = false;
  clock.advance_ms(20'000);
  loop.run_once(0);
  EXPECT_FALSE(ask(2, "example.test"));
  turn();
  EXPECT_EQ(up.queries, 2);
  clock.advance_ms(2'000);
  settle(2);
  ASSERT_EQ(replies.size(), 2u);
  Message m = parse(replies[1]);
  EXPECT_EQ(m.rcode(), dns::rcode::kNoError);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ttl, 0u);
  EXPECT_EQ(fwd->counters().stale.get(), 1u);
}

TEST_F(ForwarderTest, SpoofedAnswersAreDropped) {
  make({up.addr});
  EXPECT_FALSE(ask(1, "example.test"));
  turn();
  ASSERT_EQ(up.queries, 1);
  dns::QueryParse p = dns::parse_query(up.last_query);
  const dns::Query q = p.query;
  // Wrong ID.
  dns::Query wrong_id = q;
  wrong_id.header.id = uint16_t(q.header.id + 1);
  up.send(response(wrong_id, dns::rcode::kNoError, {a_record("example.test", 30, 66)}));
  // Right ID, other question.
  dns::Query wrong_q = q;
  wrong_q.question.name = "evil.test";
  up.send(response(wrong_q, dns::rcode::kNoError, {a_record("evil.test", 30, 66)}));
  // Right ID and question, from another address (another socket).
  FakeRecursor spoofer;
  spoofer.last_from = up.last_from;
  spoofer.send(response(q, dns::rcode::kNoError, {a_record("example.test", 30, 66)}));
  for (int i = 0; i < 20; ++i) loop.run_once(1);
  EXPECT_TRUE(replies.empty());
  EXPECT_EQ(fwd->counters().mismatched.get(), 3u);
  // The real answer.
  up.send(response(q, dns::rcode::kNoError, {a_record("example.test", 30, 7)}));
  settle(1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(parse(replies[0]).answers[0].addr[3], 7);
}

TEST_F(ForwarderTest, CacheKeepsTheMostRecentlyUsedEntries) {
  ForwarderLimits limits;
  limits.max_entries = 2;
  make({up.addr}, limits);
  up.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 300)});
  };
  EXPECT_FALSE(ask(1, "a.test"));
  settle(1);
  EXPECT_FALSE(ask(2, "b.test"));
  settle(2);
  EXPECT_TRUE(ask(3, "a.test"));  // a is now the most recent
  EXPECT_FALSE(ask(4, "c.test"));  // evicts b
  settle(3);
  EXPECT_EQ(fwd->entries(), 2u);
  EXPECT_EQ(fwd->counters().entries.get(), 2);
  EXPECT_TRUE(ask(5, "a.test"));
  EXPECT_TRUE(ask(6, "c.test"));
  EXPECT_FALSE(ask(7, "b.test"));
  settle(4);
  EXPECT_EQ(up.queries, 4);
}

TEST_F(ForwarderTest, InFlightLimitAnswersServfailAtOnce) {
  ForwarderLimits limits;
  limits.max_in_flight = 1;
  make({up.addr}, limits);
  EXPECT_FALSE(ask(1, "a.test"));
  EXPECT_FALSE(ask(2, "a.test"));  // joins: no new exchange
  auto over = ask(3, "b.test");
  ASSERT_TRUE(over);
  EXPECT_EQ(parse(*over).rcode(), dns::rcode::kServFail);
  EXPECT_EQ(fwd->counters().overflow.get(), 1u);
}

TEST_F(ForwarderTest, TruncatedUpstreamAnswerIsPassedOnAndNotCached) {
  make({up.addr});
  up.answer = [](const dns::Query& q) {
    std::string r = response(q, dns::rcode::kNoError, {a_record(q.question.name, 300)});
    r[2] = char(uint8_t(r[2]) | 0x02);
    return r;
  };
  EXPECT_FALSE(ask(1, "big.test"));
  settle(1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(parse(replies[0]).header.tc);
  EXPECT_EQ(fwd->entries(), 0u);
}

TEST_F(ForwarderTest, LargeCachedAnswerIsCutToTheClientsLimit) {
  make({up.addr});
  up.answer = [](const dns::Query& q) {
    std::vector<Record> many;
    for (int i = 0; i < 60; ++i) many.push_back(a_record(q.question.name, 300, uint8_t(i)));
    return response(q, dns::rcode::kNoError, many);
  };
  EXPECT_FALSE(ask(1, "big.test", dns::rr::kA, 1232));
  settle(1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(parse(replies[0]).header.tc);
  EXPECT_EQ(parse(replies[0]).answers.size(), 60u);
  auto plain = ask(2, "big.test");  // no EDNS: 512 bytes
  ASSERT_TRUE(plain);
  EXPECT_LE(plain->size(), dns::kPlainUdpLimit);
  Message m = parse(*plain);
  EXPECT_TRUE(m.header.tc);
  EXPECT_FALSE(m.edns.present);
}

TEST_F(ForwarderTest, UpstreamServfailTriesTheNextRecursor) {
  FakeRecursor good;
  good.answer = [](const dns::Query& q) {
    return response(q, dns::rcode::kNoError, {a_record(q.question.name, 30, 4)});
  };
  up.answer = [](const dns::Query& q) { return response(q, dns::rcode::kServFail, {}); };
  make({up.addr, good.addr});
  EXPECT_FALSE(ask(1, "example.test"));
  settle(1, {&good});
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(parse(replies[0]).rcode(), dns::rcode::kNoError);
  EXPECT_EQ(up.queries, 1);
  EXPECT_EQ(good.queries, 1);
}

TEST_F(ForwarderTest, CloseEndsExchangesWithEmptyReplies) {
  make({up.addr});
  EXPECT_FALSE(ask(1, "example.test"));
  EXPECT_FALSE(ask(2, "example.test"));
  loop.run_once(0);
  fwd->close();
  for (int i = 0; i < 5 && replies.size() < 2; ++i) loop.run_once(0);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_TRUE(replies[0].empty());
  EXPECT_TRUE(replies[1].empty());
  EXPECT_EQ(fwd->in_flight(), 0u);
}

}  // namespace
}  // namespace cw::nameserver
