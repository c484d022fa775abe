// Character classes, field validation and hop-by-hop removal.
#include "http/h1/tokens.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cw::http::h1 {
namespace {

std::vector<std::string> names(const HeaderMap& m) {
  std::vector<std::string> out;
  for (const Header& h : m) out.push_back(h.name);
  return out;
}

TEST(Tokens, CharClasses) {
  for (char c : std::string_view("!#$%&'*+-.^_`|~09azAZ")) EXPECT_TRUE(is_tchar(c)) << c;
  for (char c : std::string_view(" \t\"(),/:;<=>?@[\\]{}\x7f\x01")) EXPECT_FALSE(is_tchar(c)) << c;
  EXPECT_FALSE(is_tchar('\x80'));
  EXPECT_TRUE(is_value_char('\t'));
  EXPECT_TRUE(is_value_char(' '));
  EXPECT_TRUE(is_value_char('\xff'));
  EXPECT_FALSE(is_value_char('\r'));
  EXPECT_FALSE(is_value_char('\n'));
  EXPECT_FALSE(is_value_char('\0'));
  EXPECT_FALSE(is_value_char('\x7f'));
  EXPECT_TRUE(is_target_char('~'));
  EXPECT_FALSE(is_target_char(' '));
  EXPECT_FALSE(is_target_char('\x80'));
  EXPECT_TRUE(is_host_char('['));
  EXPECT_FALSE(is_host_char('@'));
  EXPECT_FALSE(is_host_char('/'));
  EXPECT_TRUE(is_hex_digit('F'));
  EXPECT_FALSE(is_hex_digit('g'));
}

TEST(Tokens, FieldValidation) {
  EXPECT_TRUE(is_valid_field_name("X-Request-Id"));
  EXPECT_FALSE(is_valid_field_name(""));
  EXPECT_FALSE(is_valid_field_name("X Y"));
  EXPECT_FALSE(is_valid_field_name("X:"));
  EXPECT_TRUE(is_valid_field_value(""));
  EXPECT_TRUE(is_valid_field_value("a b\tc"));
  EXPECT_FALSE(is_valid_field_value("a\r\nX-Injected: 1"));
  EXPECT_FALSE(is_valid_field_value(" leading"));
  EXPECT_FALSE(is_valid_field_value("trailing\t"));
}

TEST(Tokens, HopByHop) {
  for (std::string_view n :
       {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
        "UPGRADE", "Proxy-Authenticate", "proxy-authorization"}) {
    EXPECT_TRUE(is_hop_by_hop(n)) << n;
  }
  for (std::string_view n : {"Host", "Content-Length", "Trailers", "tE2", "Authorization", ""}) {
    EXPECT_FALSE(is_hop_by_hop(n)) << n;
  }
}

TEST(Tokens, RemoveHopByHop) {
  HeaderMap m;
  m.add("Host", "a");
  m.add("Connection", "close, X-Secret ,x-other");
  m.add("X-Secret", "1");
  m.add("Keep-Alive", "timeout=5");
  m.add("Accept", "*/*");
  m.add("Transfer-Encoding", "chunked");
  m.add("X-Other", "2");
  m.add("connection", "Upgrade");
  m.add("Upgrade", "websocket");
  m.add("X-Keep", "3");
  remove_hop_by_hop(m);
  EXPECT_EQ(names(m), (std::vector<std::string>{"Host", "Accept", "X-Keep"}));
  EXPECT_EQ(*m.get("X-Keep"), "3");
}

TEST(Tokens, ConnectionCannotStripHostOrContentLength) {
  HeaderMap m;
  m.add("Host", "a");
  m.add("Content-Length", "3");
  m.add("Connection", "host, content-length, keep-alive");
  remove_hop_by_hop(m);
  EXPECT_EQ(names(m), (std::vector<std::string>{"Host", "Content-Length"}));
}

TEST(Tokens, RemoveHopByHopManyHeaders) {
  HeaderMap m;
  for (int i = 0; i < 300; ++i) m.add(i % 3 == 0 ? "TE" : "X-" + std::to_string(i), "v");
  m.add("Connection", "X-1");
  remove_hop_by_hop(m);
  EXPECT_EQ(m.size(), 199u);  // 300 - 100 TE - X-1; Connection itself removed too
  EXPECT_EQ(m.get("X-1"), nullptr);
  EXPECT_NE(m.get("X-2"), nullptr);
}

}  // namespace
}  // namespace cw::http::h1
