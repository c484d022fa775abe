// The Resolver against a fake DNS server run by the test itself on 127.0.0.1 (UDP, port 0),
// answering with our own codec. One thread: the test pumps the server and the loop in turn. The
// loop's clock is manual (TTL expiry is a jump, not a wait) and follows real time while pumping,
// because c-ares times its retries on the real clock.
#include "resolver/resolver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <optional>

#include <gtest/gtest.h>

#include "dns/builder.h"
#include "runtime/clock.h"

namespace cw::resolver {
namespace {

class FakeDns {
 public:
  // What to send for a query: the wire bytes, or nothing (silence).
  using Handler = std::function<std::optional<std::string>(const dns::Query&)>;

  FakeDns() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~FakeDns() { ::close(fd_); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void set_handler(Handler h) { handler_ = std::move(h); }
  // Queries seen, by "name/TYPE".
  int queries(const std::string& name, uint16_t type) const {
    auto it = seen_.find(name + "/" + qtype_name(type));
    return it == seen_.end() ? 0 : it->second;
  }
  int total() const { return total_; }

  void serve() {
    char buf[4096];
    for (;;) {
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer),
                                   &plen);
      if (n <= 0) return;
      dns::QueryParse p = dns::parse_query(std::string_view(buf, size_t(n)));
      if (p.status != dns::ParseStatus::kOk || !p.query.has_question) continue;
      ++total_;
      ++seen_[p.query.qname_lower + "/" + qtype_name(p.query.question.type)];
      if (!handler_) continue;
      if (auto out = handler_(p.query)) {
        ::sendto(fd_, out->data(), out->size(), 0, reinterpret_cast<sockaddr*>(&peer), plen);
      }
    }
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  Handler handler_;
  std::map<std::string, int> seen_;
  int total_ = 0;
};

dns::Record soa() {
  dns::Soa s;
  s.mname = "ns.internal";
  s.rname = "hostmaster.internal";
  s.minimum = 10;
  return dns::Record::soa_record("internal", 60, s);
}

// A server for the zone "internal": api -> 127.0.0.2 and .3 (TTL `ttl`), _api._tcp -> SRV
// (targets a1 with an additional record, a2 without), a1/a2 A records; anything else NXDOMAIN.
FakeDns::Handler zone(uint32_t ttl) {
  return [ttl](const dns::Query& q) -> std::optional<std::string> {
    const std::string& n = q.qname_lower;
    const uint16_t t = q.question.type;
    dns::ResponseBuilder b(q, dns::udp_limit(q));
    if (n == "api.internal" && t == dns::rr::kA) {
      b.add_answer(dns::Record::a(q.question.name, ttl, {127, 0, 0, 2}));
      b.add_answer(dns::Record::a(q.question.name, ttl, {127, 0, 0, 3}));
      return b.finish();
    }
    if (n == "_api._tcp.internal" && t == dns::rr::kSRV) {
      b.add_answer(dns::Record::srv(q.question.name, ttl, 0, 1, 8001, "a1.internal"));
      b.add_answer(dns::Record::srv(q.question.name, ttl, 0, 1, 8002, "a2.internal"));
      b.add_additional(dns::Record::a("a1.internal", ttl, {127, 0, 0, 11}));
      return b.finish();
    }
    if ((n == "a1.internal" || n == "a2.internal") && t == dns::rr::kA) {
      b.add_answer(dns::Record::a(q.question.name, ttl, {127, 0, 0, uint8_t(n == "a1.internal" ? 11 : 12)}));
      return b.finish();
    }
    if (n == "api.internal" || n == "a1.internal" || n == "a2.internal") {
      return dns::negative_response(q, dns::rcode::kNoError, soa(), dns::udp_limit(q));
    }
    return dns::negative_response(q, dns::rcode::kNxDomain, soa(), dns::udp_limit(q));
  };
}

class ResolverTest : public ::testing::Test {
 protected:
  void make(int timeout_ms = 3000, int tries = 2) {
    ResolverOptions o;
    o.servers = {dns_.address()};
    o.timeout_ms = timeout_ms;
    o.tries = tries;
    auto r = Resolver::create(loop_, o);
    ASSERT_TRUE(r) << r.error();
    resolver_ = std::move(*r);
  }
  // Serves and turns the loop until done() (bounded by real time); the manual clock follows
  // real time meanwhile so c-ares' timer fires.
  bool pump(const std::function<bool()>& done, int64_t max_ms = 5000) {
    const int64_t end = rt::mono_ns() + max_ms * 1'000'000;
    while (!done()) {
      if (rt::mono_ns() > end) return false;
      dns_.serve();
      const int64_t t0 = rt::mono_ns();
      loop_.run_once(1);
      clock_.advance_ns(rt::mono_ns() - t0);
    }
    return true;
  }
  // One lookup, pumped to its result.
  Resolution resolve(const std::string& name, uint16_t type) {
    std::optional<Resolution> out;
    resolver_->lookup(name, type, [&out](const Resolution& r) { out = r; });
    EXPECT_TRUE(pump([&] { return out.has_value(); })) << name;
    return out.value_or(Resolution{});
  }

  rt::ManualClock clock_;
  rt::EventLoop loop_{&clock_};
  FakeDns dns_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, AnswersAndCachesForTheTtl) {
  dns_.set_handler(zone(30));
  make();
  const int64_t start = loop_.now_ms();
  Resolution r = resolve("api.internal", dns::rr::kA);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.addresses, (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
  EXPECT_EQ(r.ttl_s, 30u);
  EXPECT_FALSE(r.stale);
  EXPECT_FALSE(r.negative);
  EXPECT_GE(r.expires_at_ms, start + 30'000);
  EXPECT_LE(r.expires_at_ms, loop_.now_ms() + 30'000);

  // A cache hit: no query, and the callback is not called from inside lookup().
  bool called = false;
  resolver_->lookup("API.internal", dns::rr::kA, [&called](const Resolution& x) {
    called = true;
    EXPECT_EQ(x.addresses.size(), 2u);
  });
  EXPECT_FALSE(called);
  ASSERT_TRUE(pump([&] { return called; }));
  EXPECT_EQ(dns_.queries("api.internal", dns::rr::kA), 1);
  EXPECT_EQ(resolver_->cache_counters().hits, 1u);

  // Past the TTL: asked again.
  clock_.advance_ms(31'000);
  loop_.run_once(0);
  resolve("api.internal", dns::rr::kA);
  EXPECT_EQ(dns_.queries("api.internal", dns::rr::kA), 2);
}

TEST_F(ResolverTest, ConcurrentLookupsShareOneQuery) {
  dns_.set_handler(zone(30));
  make();
  constexpr int kLookups = 50;
  int done = 0;
  for (int i = 0; i < kLookups; ++i) {
    resolver_->lookup("api.internal", dns::rr::kA, [&done](const Resolution& r) {
      EXPECT_EQ(r.addresses, (std::vector<std::string>{"127.0.0.2", "127.0.0.3"}));
      ++done;
    });
  }
  EXPECT_EQ(resolver_->in_flight(), 1u);
  ASSERT_TRUE(pump([&] { return done == kLookups; }));
  EXPECT_EQ(dns_.queries("api.internal", dns::rr::kA), 1);
  EXPECT_EQ(resolver_->counters().queries, 1u);
  EXPECT_EQ(resolver_->counters().coalesced, uint64_t(kLookups - 1));
}

TEST_F(ResolverTest, NxdomainIsCachedForTheSoaMinimum) {
  dns_.set_handler(zone(30));
  make();
  Resolution r = resolve("nope.internal", dns::rr::kA);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.negative);
  EXPECT_TRUE(r.addresses.empty());
  EXPECT_EQ(r.ttl_s, 10u);  // min(SOA TTL 60, MINIMUM 10)
  resolve("nope.internal", dns::rr::kA);
  EXPECT_EQ(dns_.queries("nope.internal", dns::rr::kA), 1);  // from the cache
  clock_.advance_ms(10'500);
  loop_.run_once(0);
  resolve("nope.internal", dns::rr::kA);
  EXPECT_EQ(dns_.queries("nope.internal", dns::rr::kA), 2);
}

TEST_F(ResolverTest, TimeoutGivesAnErrorAndTheStaleAnswer) {
  dns_.set_handler(zone(1));
  make(/*timeout_ms=*/150, /*tries=*/1);
  Resolution first = resolve("api.internal", dns::rr::kA);
  ASSERT_TRUE(first.error.empty()) << first.error;
  // The server goes silent; the answer expires.
  dns_.set_handler(nullptr);
  clock_.advance_ms(2'000);
  loop_.run_once(0);
  Resolution r = resolve("api.internal", dns::rr::kA);
  EXPECT_FALSE(r.error.empty());
  EXPECT_TRUE(r.stale);
  EXPECT_TRUE(r.usable());
  EXPECT_EQ(r.addresses, first.addresses);
  EXPECT_EQ(r.expires_at_ms, first.expires_at_ms);  // in the past: it is stale
  EXPECT_EQ(resolver_->cache_counters().stale_served, 1u);
  // A name never answered has nothing to fall back on.
  Resolution none = resolve("other.internal", dns::rr::kA);
  EXPECT_FALSE(none.error.empty());
  EXPECT_FALSE(none.stale);
  EXPECT_FALSE(none.usable());
  EXPECT_EQ(resolver_->counters().failures, 2u);
}

TEST_F(ResolverTest, StaleAnswersEndAtTheCap) {
  dns_.set_handler(zone(1));
  ResolverOptions o;
  o.servers = {dns_.address()};
  o.timeout_ms = 150;
  o.tries = 1;
  o.cache.stale_cap_ms = 5'000;
  auto made = Resolver::create(loop_, o);
  ASSERT_TRUE(made);
  resolver_ = std::move(*made);
  resolve("api.internal", dns::rr::kA);
  dns_.set_handler(nullptr);
  clock_.advance_ms(7'000);  // 1 s TTL + 5 s cap passed
  loop_.run_once(0);
  Resolution r = resolve("api.internal", dns::rr::kA);
  EXPECT_FALSE(r.usable());
  EXPECT_TRUE(r.addresses.empty());
}

TEST_F(ResolverTest, SrvTargetsFromAdditionalOrLookedUp) {
  dns_.set_handler(zone(30));
  make();
  Resolution r = resolve("_api._tcp.internal", dns::rr::kSRV);
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.srv.size(), 2u);
  EXPECT_EQ(r.srv[0].port, 8001);
  EXPECT_EQ(r.srv[0].addresses, (std::vector<std::string>{"127.0.0.11"}));
  EXPECT_EQ(r.srv[1].port, 8002);
  EXPECT_EQ(r.srv[1].addresses, (std::vector<std::string>{"127.0.0.12"}));
  EXPECT_EQ(dns_.queries("a1.internal", dns::rr::kA), 0);  // it came as an additional record
  EXPECT_EQ(dns_.queries("a2.internal", dns::rr::kA), 1);
  EXPECT_EQ(dns_.queries("a2.internal", dns::rr::kAAAA), 0);  // A answered
}

TEST_F(ResolverTest, NodataForTheOtherFamily) {
  dns_.set_handler(zone(30));
  make();
  Resolution r = resolve("api.internal", dns::rr::kAAAA);
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.negative);
  EXPECT_EQ(r.ttl_s, 10u);
}

TEST_F(ResolverTest, DestroyedWithAQueryInFlightCallsNothing) {
  dns_.set_handler(nullptr);
  make();
  bool called = false;
  resolver_->lookup("api.internal", dns::rr::kA, [&called](const Resolution&) { called = true; });
  for (int i = 0; i < 5; ++i) {
    dns_.serve();
    loop_.run_once(1);
  }
  EXPECT_EQ(resolver_->open_sockets(), 1u);
  resolver_.reset();
  for (int i = 0; i < 5; ++i) loop_.run_once(1);
  EXPECT_FALSE(called);
  EXPECT_EQ(dns_.total(), 1);
}

TEST_F(ResolverTest, BadServerAddressIsRefused) {
  ResolverOptions o;
  o.servers = {"not-an-address"};
  auto r = Resolver::create(loop_, o);
  EXPECT_FALSE(r);
}

}  // namespace
}  // namespace cw::resolver
