// HeaderMap, iequals, request-target helpers and reason phrases.
#include "http/message.h"

#include <gtest/gtest.h>

namespace cw::http {
namespace {

TEST(Message, Iequals) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_FALSE(iequals("[", "{"));  // 0x5B vs 0x7B: only letters fold
  EXPECT_FALSE(iequals("\xc9", "\xe9"));
}

TEST(Message, HeaderMapLookup) {
  HeaderMap m;
  EXPECT_TRUE(m.empty());
  m.add("Accept", "a");
  m.add("X-Multi", "1");
  m.add("x-multi", "2");
  EXPECT_EQ(m.size(), 3u);
  ASSERT_NE(m.get("x-MULTI"), nullptr);
  EXPECT_EQ(*m.get("x-MULTI"), "1");
  EXPECT_EQ(m.get("missing"), nullptr);
  EXPECT_EQ(m.get_or("missing", "dflt"), "dflt");
  EXPECT_EQ(m.get_or("accept", "dflt"), "a");
  EXPECT_EQ(m.count("X-Multi"), 2u);
  EXPECT_EQ(m.count("nope"), 0u);
}

TEST(Message, HeaderMapSetAndRemove) {
  HeaderMap m;
  m.add("A", "1");
  m.add("B", "2");
  m.add("a", "3");
  m.add("C", "4");
  m.set("A", "x");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.items()[0].value, "x");  // the first entry keeps its place
  EXPECT_EQ(m.items()[1].name, "B");
  EXPECT_EQ(m.items()[2].name, "C");
  m.set("D", "5");
  EXPECT_EQ(m.items().back().name, "D");
  m.add("b", "6");
  EXPECT_EQ(m.remove("B"), 2u);
  EXPECT_EQ(m.remove("B"), 0u);
  EXPECT_EQ(m.size(), 3u);
  m.clear();
  EXPECT_TRUE(m.empty());
}

TEST(Message, HasToken) {
  HeaderMap m;
  m.add("Connection", "keep-alive , Upgrade");
  m.add("connection", "\tclose\t");
  EXPECT_TRUE(m.has_token("connection", "upgrade"));
  EXPECT_TRUE(m.has_token("Connection", "KEEP-ALIVE"));
  EXPECT_TRUE(m.has_token("Connection", "close"));
  EXPECT_FALSE(m.has_token("Connection", "keep"));
  EXPECT_FALSE(m.has_token("Upgrade", "close"));
}

TEST(Message, PathAndQuery) {
  RequestHead h;
  h.target = "/a/b?x=1?y";
  EXPECT_EQ(h.path(), "/a/b");
  EXPECT_EQ(h.query(), "x=1?y");
  h.target = "/plain";
  EXPECT_EQ(h.path(), "/plain");
  EXPECT_EQ(h.query(), "");
  h.target = "/q?";
  EXPECT_EQ(h.path(), "/q");
  EXPECT_EQ(h.query(), "");
}

TEST(Message, ReasonPhrase) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(502), "Bad Gateway");
  EXPECT_EQ(reason_phrase(799), "Unknown");
}

}  // namespace
}  // namespace cw::http
