// The TTL cache and the reading of answers, on plain numbers for time (no clock, no sleeps):
// TTL expiry, the CNAME chain's minimum TTL, RFC 2308 negative TTLs, the stale cap, the LRU
// bound and the counters.
#include "resolver/cache.h"

#include <gtest/gtest.h>

#include "resolver/answer.h"

namespace cw::resolver {
namespace {

dns::Record cname(std::string name, uint32_t ttl, std::string target) {
  dns::Record r;
  r.name = std::move(name);
  r.type = dns::rr::kCNAME;
  r.ttl = ttl;
  r.target = std::move(target);
  return r;
}

dns::Message response(std::string qname, uint16_t qtype, uint16_t rc = dns::rcode::kNoError) {
  dns::Message m;
  m.header.qr = true;
  m.header.rcode = uint8_t(rc);
  m.questions.push_back({std::move(qname), qtype, dns::kClassIN});
  return m;
}

dns::Record soa(uint32_t ttl, uint32_t minimum) {
  dns::Soa s;
  s.mname = "ns.internal";
  s.rname = "hostmaster.internal";
  s.minimum = minimum;
  return dns::Record::soa_record("internal", ttl, s);
}

Answer positive(uint32_t ttl, std::string addr = "10.0.0.1") {
  Answer a;
  a.addresses = {std::move(addr)};
  a.ttl_s = ttl;
  return a;
}

TEST(ReadAnswer, AddressesAndTheirTtl) {
  dns::Message m = response("api.internal", dns::rr::kA);
  m.answers.push_back(dns::Record::a("api.internal", 30, {10, 0, 0, 1}));
  m.answers.push_back(dns::Record::a("API.internal", 20, {10, 0, 0, 2}));  // names ignore case
  auto a = read_answer(m, "api.internal", dns::rr::kA);
  ASSERT_TRUE(a) << a.error();
  EXPECT_FALSE(a->negative);
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(a->ttl_s, 20u);
}

TEST(ReadAnswer, CnameChainTakesTheSmallestTtl) {
  dns::Message m = response("www.example", dns::rr::kAAAA);
  m.answers.push_back(cname("www.example", 5, "edge.example"));
  m.answers.push_back(cname("edge.example", 300, "host.example"));
  m.answers.push_back(dns::Record::aaaa("host.example", 600, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
                                                              0, 0, 0, 0, 0, 0, 0, 0, 1}));
  auto a = read_answer(m, "www.example", dns::rr::kAAAA);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"2001:db8::1"}));
  EXPECT_EQ(a->ttl_s, 5u);  // the first CNAME's, not the address record's
}

TEST(ReadAnswer, CnameLoopIsAnError) {
  dns::Message m = response("a.example", dns::rr::kA);
  m.answers.push_back(cname("a.example", 5, "b.example"));
  m.answers.push_back(cname("b.example", 5, "a.example"));
  auto a = read_answer(m, "a.example", dns::rr::kA);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), "CNAME chain too long");
}

TEST(ReadAnswer, NegativeTtlIsTheSoaMinimumOrItsTtl) {
  dns::Message nx = response("gone.internal", dns::rr::kA, dns::rcode::kNxDomain);
  nx.authority.push_back(soa(60, 10));
  auto a = read_answer(nx, "gone.internal", dns::rr::kA);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->negative);
  EXPECT_TRUE(a->nxdomain);
  EXPECT_TRUE(a->cacheable);
  EXPECT_EQ(a->ttl_s, 10u);  // min(SOA TTL 60, MINIMUM 10)

  dns::Message nodata = response("api.internal", dns::rr::kAAAA);
  nodata.authority.push_back(soa(3, 10));
  auto b = read_answer(nodata, "api.internal", dns::rr::kAAAA);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->negative);
  EXPECT_FALSE(b->nxdomain);
  EXPECT_EQ(b->ttl_s, 3u);  // min(SOA TTL 3, MINIMUM 10)
}

TEST(ReadAnswer, NegativeWithoutSoaIsNotCacheable) {
  dns::Message nx = response("gone.internal", dns::rr::kA, dns::rcode::kNxDomain);
  auto a = read_answer(nx, "gone.internal", dns::rr::kA);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->negative);
  EXPECT_FALSE(a->cacheable);
  Cache cache;
  EXPECT_EQ(cache.put(make_key("gone.internal", dns::rr::kA), *a, 0), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ReadAnswer, ErrorsAndOtherQuestions) {
  auto servfail = read_answer(response("x.example", dns::rr::kA, dns::rcode::kServFail),
                              "x.example", dns::rr::kA);
  ASSERT_FALSE(servfail);
  EXPECT_EQ(servfail.error(), "SERVFAIL");
  auto other = read_answer(response("y.example", dns::rr::kA), "x.example", dns::rr::kA);
  ASSERT_FALSE(other);
}

TEST(ReadAnswer, SrvTargetsFromTheAdditionalSection) {
  dns::Message m = response("_api._tcp.internal", dns::rr::kSRV);
  m.answers.push_back(dns::Record::srv("_api._tcp.internal", 30, 0, 5, 8080, "a1.api.internal"));
  m.answers.push_back(dns::Record::srv("_api._tcp.internal", 30, 0, 1, 8081, "a2.api.internal"));
  m.additional.push_back(dns::Record::a("a1.api.internal", 7, {127, 0, 0, 2}));
  auto a = read_answer(m, "_api._tcp.internal", dns::rr::kSRV);
  ASSERT_TRUE(a) << a.error();
  ASSERT_EQ(a->srv.size(), 2u);
  EXPECT_EQ(a->srv[0].port, 8080);
  EXPECT_EQ(a->srv[0].weight, 5);
  EXPECT_EQ(a->srv[0].addresses, (std::vector<std::string>{"127.0.0.2"}));
  EXPECT_TRUE(a->srv[1].addresses.empty());  // the resolver looks this one up
  EXPECT_EQ(a->ttl_s, 7u);                   // the additional record used counts
}

TEST(Cache, FreshUntilTheTtlThenGone) {
  Cache cache;
  const CacheKey key = make_key("API.internal.", dns::rr::kA);
  EXPECT_EQ(key.name, "api.internal");
  EXPECT_EQ(cache.fresh(key, 0), nullptr);
  const CachedAnswer* put = cache.put(key, positive(30), 1000);
  ASSERT_NE(put, nullptr);
  EXPECT_EQ(put->expires_at_ms, 31'000);
  ASSERT_NE(cache.fresh(make_key("api.INTERNAL", dns::rr::kA), 30'999), nullptr);
  EXPECT_EQ(cache.fresh(key, 31'000), nullptr);               // expired: a miss
  EXPECT_EQ(cache.fresh(make_key("api.internal", dns::rr::kAAAA), 2000), nullptr);  // other type
  EXPECT_EQ(cache.counters().hits, 1u);
  EXPECT_EQ(cache.counters().misses, 3u);
}

TEST(Cache, NegativeAnswersExpireAndAreNeverStale) {
  Cache cache;
  const CacheKey key = make_key("gone.internal", dns::rr::kA);
  Answer nx;
  nx.negative = nx.nxdomain = true;
  nx.ttl_s = 10;
  ASSERT_NE(cache.put(key, nx, 0), nullptr);
  const CachedAnswer* hit = cache.fresh(key, 9'999);
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(hit->answer.negative);
  EXPECT_EQ(cache.fresh(key, 10'000), nullptr);
  EXPECT_EQ(cache.stale(key, 10'000), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(Cache, StaleWithinTheCapOnly) {
  Cache cache(CacheLimits{16, 60'000});
  const CacheKey key = make_key("api.internal", dns::rr::kA);
  cache.put(key, positive(5), 0);
  EXPECT_EQ(cache.stale(key, 4'000) != nullptr, true);  // (fresh is also usable as stale)
  EXPECT_EQ(cache.fresh(key, 5'000), nullptr);
  const CachedAnswer* old = cache.stale(key, 64'999);
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->answer.addresses[0], "10.0.0.1");
  EXPECT_EQ(cache.stale(key, 65'000), nullptr);  // 5 s TTL + 60 s cap
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.counters().stale_served, 2u);
}

TEST(Cache, UncacheableNegativeKeepsTheStaleAnswer) {
  Cache cache;
  const CacheKey key = make_key("api.internal", dns::rr::kA);
  cache.put(key, positive(1), 0);
  Answer nx;
  nx.negative = true;
  nx.cacheable = false;
  EXPECT_EQ(cache.put(key, nx, 2'000), nullptr);
  ASSERT_NE(cache.stale(key, 2'000), nullptr);
}

TEST(Cache, LeastRecentlyUsedGoesFirst) {
  Cache cache(CacheLimits{3, 0});
  for (const char* n : {"a", "b", "c"}) cache.put(make_key(n, dns::rr::kA), positive(60), 0);
  ASSERT_NE(cache.fresh(make_key("a", dns::rr::kA), 1), nullptr);  // a is now the newest
  cache.put(make_key("d", dns::rr::kA), positive(60), 2);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.counters().evictions, 1u);
  EXPECT_EQ(cache.fresh(make_key("b", dns::rr::kA), 3), nullptr);  // b was the oldest
  EXPECT_NE(cache.fresh(make_key("a", dns::rr::kA), 3), nullptr);
  EXPECT_NE(cache.fresh(make_key("c", dns::rr::kA), 3), nullptr);
  EXPECT_NE(cache.fresh(make_key("d", dns::rr::kA), 3), nullptr);
  // Replacing an entry does not grow the cache or evict.
  cache.put(make_key("c", dns::rr::kA), positive(5, "10.0.0.9"), 4);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.counters().evictions, 1u);
  EXPECT_EQ(cache.fresh(make_key("c", dns::rr::kA), 5)->answer.addresses[0], "10.0.0.9");
}

}  // namespace
}  // namespace cw::resolver
