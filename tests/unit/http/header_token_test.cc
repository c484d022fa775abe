// The header token table and the Connection options parser.
#include "http/header_token.h"

#include <gtest/gtest.h>

#include "http/connection_options.h"
#include "http/message.h"

namespace cw::http {
namespace {

TEST(HeaderToken, EveryTableNameLooksUpToItselfInAnyCase) {
  for (size_t i = 1; i < size_t(HeaderToken::kCount); ++i) {
    const auto t = HeaderToken(i);
    std::string name(header_info(t).name);
    EXPECT_EQ(lookup_header(name), t) << name;
    for (char& c : name) c = char(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(lookup_header(name), t) << name;
  }
  EXPECT_EQ(lookup_header("x-custom"), HeaderToken::kOther);
  EXPECT_EQ(lookup_header(""), HeaderToken::kOther);
  EXPECT_EQ(lookup_header("content_length"), HeaderToken::kOther);
}

// Lookup compares a word at a time: a name one byte away from a table name, at any position
// and with any byte other than the two cases of that letter, is not that name.
TEST(HeaderToken, OneByteOffIsAnotherName) {
  for (size_t i = 1; i < size_t(HeaderToken::kCount); ++i) {
    const auto t = HeaderToken(i);
    const std::string name(header_info(t).name);
    for (size_t pos = 0; pos < name.size(); ++pos) {
      const char lower = char(std::tolower(static_cast<unsigned char>(name[pos])));
      for (int b = 0; b < 256; ++b) {
        std::string n = name;
        n[pos] = char(b);
        const bool same_letter = char(std::tolower(b)) == lower;
        EXPECT_EQ(lookup_header(n) == t, same_letter) << name << " byte " << b << " at " << pos;
      }
    }
  }
}

TEST(HeaderToken, Flags) {
  for (auto n : {"Connection", "keep-alive", "proxy-connection", "te", "trailer",
                 "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"}) {
    EXPECT_TRUE(header_has(lookup_header(n), kHopByHop)) << n;
  }
  EXPECT_TRUE(header_has(HeaderToken::kContentLength, kFraming));
  EXPECT_TRUE(header_has(HeaderToken::kTransferEncoding, kFraming));
  EXPECT_TRUE(header_has(HeaderToken::kXForwardedFor, kProxyRestated));
  EXPECT_TRUE(header_has(lookup_header("X-Causeway-Fault"), kProxyRestated));  // never forwarded
  EXPECT_FALSE(header_has(HeaderToken::kHost, kHopByHop | kFraming | kProxyRestated));
  EXPECT_FALSE(header_has(HeaderToken::kOther, kHopByHop | kFraming | kProxyRestated));
}

TEST(HeaderMap, AddInternsTheName) {
  HeaderMap m;
  m.add("content-LENGTH", "3");
  m.add("X-Thing", "y");
  EXPECT_EQ(m.items()[0].token, HeaderToken::kContentLength);
  EXPECT_EQ(m.items()[1].token, HeaderToken::kOther);
}

TEST(ConnectionOptions, ReadsCloseKeepAliveUpgradeAndListedNames) {
  HeaderMap m;
  m.add("Connection", "Keep-Alive, Upgrade");
  m.add("connection", " X-A ,close,, x-b");
  auto o = ConnectionOptions::of(m);
  EXPECT_TRUE(o.keep_alive());
  EXPECT_TRUE(o.upgrade());
  EXPECT_TRUE(o.close());
  EXPECT_TRUE(o.lists("x-a"));
  EXPECT_TRUE(o.lists("X-B"));
  EXPECT_FALSE(o.lists("close"));
  EXPECT_EQ(o.listed(), 2u) << "hop-by-hop names and close are not counted";
}

TEST(ConnectionOptions, NeverListsHostOrContentLength) {
  ConnectionOptions o;
  o.add_value("host, content-length, x-ok");
  EXPECT_FALSE(o.lists("host"));
  EXPECT_FALSE(o.lists("Content-Length"));
  EXPECT_TRUE(o.lists("x-ok"));
}

TEST(ConnectionOptions, ListIsBounded) {
  ConnectionOptions o;
  std::string v;
  for (int i = 0; i < 100; ++i) v += "x-" + std::to_string(i) + ",";
  v += "close";
  o.add_value(v);  // the options are views into the value: it must outlive them
  EXPECT_EQ(o.listed(), ConnectionOptions::kMaxListed);
  EXPECT_TRUE(o.close()) << "options past the bound are still read";
  EXPECT_FALSE(o.lists("x-99"));
}

}  // namespace
}  // namespace cw::http
