#include "config/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>

namespace cw::config {
namespace {

TEST(ParseAddress, AcceptsIpv4Ipv6AndLocalhost) {
  auto a = parse_address("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);

  a = parse_address("[::1]:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 80);

  a = parse_address("0.0.0.0:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");

  a = parse_address("localhost:9000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9000);
}

TEST(ParseAddress, CanonicalizesIpv6) {
  auto a = parse_address("[0:0:0::1]:443");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  a = parse_address("[2001:DB8::A]:1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "2001:db8::a");
}

TEST(ParseAddress, PortRangeIsZeroTo65535) {
  EXPECT_EQ(parse_address("127.0.0.1:0")->port, 0);  // callers refuse 0 where it makes no sense
  EXPECT_EQ(parse_address("127.0.0.1:65535")->port, 65535);
  EXPECT_EQ(parse_address("127.0.0.1:65536"), std::nullopt);
  EXPECT_EQ(parse_address("127.0.0.1:123456"), std::nullopt);
}

TEST(ParseAddress, RefusesMalformedAddresses) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:abc", "127.0.0.1:-1", "::1:80", "[::1]",
        "[::1]80", "[127.0.0.1]:80", "example.com:80", "256.0.0.1:80", "01.2.3.4:80", "1.2.3:80",
        "[::1:80", "[fe80::1%eth0]:80", "127.0.0.1:80 ", "*:80"}) {
    EXPECT_EQ(parse_address(bad), std::nullopt) << bad;
  }
}

TEST(AddressText, BracketsIpv6) {
  EXPECT_EQ((Address{"127.0.0.1", 8080}).text(), "127.0.0.1:8080");
  EXPECT_EQ((Address{"::1", 80}).text(), "[::1]:80");
  EXPECT_EQ(parse_address("[::]:0")->text(), "[::]:0");
}

TEST(IsWildcard, KnowsBothFamilies) {
  EXPECT_TRUE(is_wildcard(*parse_address("0.0.0.0:1")));
  EXPECT_TRUE(is_wildcard(*parse_address("[::]:1")));
  EXPECT_FALSE(is_wildcard(*parse_address("127.0.0.1:1")));
}

// Helpers: bytes of an address literal.
struct Ip {
  bool v6 = false;
  uint8_t bytes[16] = {};
};
Ip ip(const char* text) {
  Ip out;
  out.v6 = std::strchr(text, ':') != nullptr;
  EXPECT_EQ(inet_pton(out.v6 ? AF_INET6 : AF_INET, text, out.bytes), 1) << text;
  return out;
}
bool contains(const char* cidr, const char* addr) {
  auto c = parse_cidr(cidr);
  EXPECT_TRUE(c) << cidr;
  Ip a = ip(addr);
  return c && cidr_contains(*c, a.v6, a.bytes);
}

TEST(ParseCidr, ParsesBlocksAndBareAddresses) {
  auto c = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->v6);
  EXPECT_EQ(c->prefix, 8);
  EXPECT_EQ(c->addr[0], 10);
  EXPECT_EQ(c->text, "10.0.0.0/8");

  c = parse_cidr("::1/128");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->v6);
  EXPECT_EQ(c->prefix, 128);
  EXPECT_EQ(c->addr[15], 1);

  c = parse_cidr("192.168.1.7");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix, 32);
  c = parse_cidr("fe80::1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix, 128);
  c = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix, 0);
}

TEST(ParseCidr, MasksHostBits) {
  auto c = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->addr[0], 10);
  EXPECT_EQ(c->addr[1], 0);
  EXPECT_EQ(c->addr[3], 0);
  EXPECT_EQ(c->text, "10.1.2.3/8");  // as written
  c = parse_cidr("192.168.255.255/20");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->addr[2], 0xF0);
  EXPECT_EQ(c->addr[3], 0);
}

TEST(ParseCidr, RefusesMalformedBlocks) {
  for (const char* bad :
       {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/a", "10.0.0/8", "/8", "10.0.0.0/8/8",
        "[::1]/128", "10.0.0.0/-1", "example.com/8", "10.0.0.0/0008"}) {
    EXPECT_EQ(parse_cidr(bad), std::nullopt) << bad;
  }
}

TEST(CidrContains, Ipv4) {
  EXPECT_TRUE(contains("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(contains("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(contains("192.168.0.0/16", "192.168.3.4"));
  EXPECT_TRUE(contains("172.16.0.0/12", "172.31.255.255"));
  EXPECT_FALSE(contains("172.16.0.0/12", "172.32.0.0"));
  EXPECT_TRUE(contains("0.0.0.0/0", "8.8.8.8"));
  EXPECT_TRUE(contains("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(contains("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(contains("10.1.2.3/8", "10.9.9.9"));  // host bits were masked
}

TEST(CidrContains, Ipv6) {
  EXPECT_TRUE(contains("::1/128", "::1"));
  EXPECT_FALSE(contains("::1/128", "::2"));
  EXPECT_TRUE(contains("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(contains("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(contains("fe80::/10", "febf::1"));
  EXPECT_FALSE(contains("fe80::/10", "fec0::1"));
}

TEST(CidrContains, Ipv4MappedIpv6MatchesIpv4Blocks) {
  EXPECT_TRUE(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
  EXPECT_FALSE(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
  EXPECT_TRUE(contains("127.0.0.1", "::ffff:127.0.0.1"));
  // Only the mapped prefix counts: the IPv4-compatible form ::a.b.c.d is not mapped.
  EXPECT_FALSE(contains("10.0.0.0/8", "::10.1.2.3"));
  EXPECT_FALSE(contains("0.0.0.0/0", "2001:db8::1"));
  // And an IPv4 peer matches a block written in mapped form.
  EXPECT_TRUE(contains("::ffff:10.0.0.0/104", "10.9.8.7"));
  EXPECT_FALSE(contains("::ffff:10.0.0.0/104", "11.9.8.7"));
  EXPECT_FALSE(contains("::1/128", "127.0.0.1"));
}

TEST(CidrContains, SocketAddresses) {
  auto v4 = *parse_cidr("127.0.0.0/8");
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "127.1.2.3", &in.sin_addr);
  EXPECT_TRUE(cidr_contains(v4, reinterpret_cast<const sockaddr*>(&in)));

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
  EXPECT_TRUE(cidr_contains(v4, reinterpret_cast<const sockaddr*>(&in6)));
  inet_pton(AF_INET6, "::1", &in6.sin6_addr);
  EXPECT_FALSE(cidr_contains(v4, reinterpret_cast<const sockaddr*>(&in6)));
  EXPECT_TRUE(cidr_contains(*parse_cidr("::1"), reinterpret_cast<const sockaddr*>(&in6)));

  sockaddr un{};
  un.sa_family = AF_UNIX;
  EXPECT_FALSE(cidr_contains(v4, &un));
  EXPECT_FALSE(cidr_contains(v4, nullptr));
}

}  // namespace
}  // namespace cw::config
