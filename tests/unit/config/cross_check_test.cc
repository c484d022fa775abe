// The checks that became linear (hash tables instead of pairwise loops) say exactly what the
// pairwise ones said (expected lines printed by `causeway check` before the change), and
// aliases cannot make a small file stand for a huge config.
#include <gtest/gtest.h>

#include <string>

#include "config/load.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

std::string errors(const std::string& yaml) {
  return test::dump(load_config_string(yaml, "c.yaml"));
}

std::string listeners(std::initializer_list<const char*> addresses) {
  std::string out = "admin: { listen: 127.0.0.1:9901 }\nlisteners:\n";
  int i = 0;
  for (const char* a : addresses) {
    out += "  - { name: l" + std::to_string(i++) + ", listen: \"" + a +
           "\", routes: [{ match: { path_prefix: / }, direct_response: {} }] }\n";
  }
  return out;
}

TEST(CrossCheck, ListenerClashNamesTheFirstEarlierListener) {
  EXPECT_EQ(errors(listeners({"127.0.0.2:80", "0.0.0.0:80", "127.0.0.2:80", "127.0.0.3:80",
                              "[::]:80", "127.0.0.3:81", "127.0.0.3:81", "127.0.0.1:0",
                              "127.0.0.1:0", "0.0.0.0:9901", "[::1]:80"})),
            "c.yaml:4:25: listeners[1].listen: listener 'l1' listens on 0.0.0.0:80, which clashes "
            "with listener 'l0' on 127.0.0.2:80\n"
            "c.yaml:5:25: listeners[2].listen: listener 'l2' listens on 127.0.0.2:80, which "
            "clashes with listener 'l0' on 127.0.0.2:80\n"
            "c.yaml:6:25: listeners[3].listen: listener 'l3' listens on 127.0.0.3:80, which "
            "clashes with listener 'l1' on 0.0.0.0:80\n"
            "c.yaml:7:25: listeners[4].listen: listener 'l4' listens on [::]:80, which clashes "
            "with listener 'l0' on 127.0.0.2:80\n"
            "c.yaml:9:25: listeners[6].listen: listener 'l6' listens on 127.0.0.3:81, which "
            "clashes with listener 'l5' on 127.0.0.3:81\n"
            "c.yaml:12:25: listeners[9].listen: listener 'l9' listens on 0.0.0.0:9901, which "
            "clashes with the admin listener on 127.0.0.1:9901\n"
            "c.yaml:13:26: listeners[10].listen: listener 'l10' listens on [::1]:80, which "
            "clashes with listener 'l1' on 0.0.0.0:80\n");
}

TEST(CrossCheck, SpecificAddressAfterAWildcardNamesWhicheverCameFirst) {
  EXPECT_EQ(
      errors(listeners({"127.0.0.1:80", "127.0.0.2:80", "[::]:80", "127.0.0.2:80", "0.0.0.0:80"})),
      "c.yaml:5:25: listeners[2].listen: listener 'l2' listens on [::]:80, which clashes "
      "with listener 'l0' on 127.0.0.1:80\n"
      "c.yaml:6:25: listeners[3].listen: listener 'l3' listens on 127.0.0.2:80, which "
      "clashes with listener 'l1' on 127.0.0.2:80\n"
      "c.yaml:7:25: listeners[4].listen: listener 'l4' listens on 0.0.0.0:80, which clashes "
      "with listener 'l0' on 127.0.0.1:80\n");
}

TEST(CrossCheck, DuplicateEndpointsAmongThousands) {
  std::string yaml = "listeners: []\nclusters:\n  - name: big\n    endpoints:\n";
  for (int i = 0; i < 3000; ++i) {
    yaml += "      - 10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":80\n";
  }
  yaml += "      - 10.0.0.5:80\n      - 10.0.1.0:80\n      - 10.0.0.5:81\n      - 10.0.0.5:80\n";
  EXPECT_EQ(errors(yaml),
            "c.yaml:3005:9: clusters[0].endpoints[3000]: duplicate endpoint 10.0.0.5:80\n"
            "c.yaml:3006:9: clusters[0].endpoints[3001]: duplicate endpoint 10.0.1.0:80\n"
            "c.yaml:3008:9: clusters[0].endpoints[3003]: duplicate endpoint 10.0.0.5:80\n");
}

TEST(CrossCheck, DuplicateKeysInAMapWithManyKeys) {
  // Past 16 entries a map is searched through its index.
  std::string yaml = "listeners: []\nclusters: []\n";
  for (int i = 0; i < 20; ++i) yaml += "k" + std::to_string(i) + ": 1\n";
  yaml += "k3: 2\nk19: 3\nlisteners: x\n";
  const std::string out = errors(yaml);
  EXPECT_NE(out.find("c.yaml:22:1: unknown key 'k19'\n"
                     "c.yaml:23:1: k3: duplicate key 'k3' (first at line 6)\n"
                     "c.yaml:24:1: k19: duplicate key 'k19' (first at line 22)\n"
                     "c.yaml:25:1: listeners: duplicate key 'listeners' (first at line 1)\n"),
            std::string::npos)
      << out;
}

TEST(CrossCheck, UnknownClustersPastTheErrorLimit) {
  std::string yaml = "listeners:\n  - name: edge\n    listen: 127.0.0.1:0\n    routes:\n";
  for (int i = 0; i < 150; ++i) {
    yaml += "      - { match: { path_prefix: / }, cluster: c" + std::to_string(i) + " }\n";
  }
  yaml += "clusters:\n  - { name: c1000, endpoints: [127.0.0.1:1] }\n";
  const LoadResult r = load_config_string(yaml, "c.yaml");
  ASSERT_EQ(r.errors.size(), 101u);
  EXPECT_EQ(r.errors[10].format(),
            "c.yaml:15:47: listeners[0].routes[10].cluster: unknown cluster 'c10' (did you mean "
            "'c1000'?)");
  EXPECT_EQ(r.errors[99].format(),
            "c.yaml:104:47: listeners[0].routes[99].cluster: unknown cluster 'c99'");
  EXPECT_EQ(r.errors[100].format(), "c.yaml: too many errors; stopped after 100");
}

TEST(Aliases, ExpandingPastTheLimitIsRefused) {
  // Seven levels of ten aliases: 38 lines that stand for 10^7 nodes.
  std::string yaml = "l0: &l0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n";
  for (int level = 1; level <= 6; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    yaml += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + prev;
    yaml += "]\n";
  }
  const LoadResult r = load_config_string(yaml, "c.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 7);
  EXPECT_EQ(r.errors[0].column, 10);  // the first of the aliases that expand the most
  EXPECT_EQ(r.errors[0].message.find("aliases ('*name') expand the config to 12345"), 0u)
      << r.errors[0].message;
}

TEST(Aliases, ReusingAnchorsIsFine) {
  std::string yaml =
      "listeners:\n"
      "  - name: edge\n"
      "    listen: 127.0.0.1:0\n"
      "    routes:\n"
      "      - { <<: &d { timeout: 3s }, match: { path_prefix: /a/ }, cluster: a }\n"
      "      - { <<: *d, match: { path_prefix: / }, cluster: b }\n"
      "clusters:\n"
      "  - { name: a, endpoints: &eps [127.0.0.1:9001, 127.0.0.1:9002] }\n";
  for (int i = 0; i < 200; ++i) {
    yaml += "  - { name: b" + std::string(i ? std::to_string(i) : "") + ", endpoints: *eps }\n";
  }
  const LoadResult r = load_config_string(yaml, "c.yaml");
  ASSERT_TRUE(r.ok()) << errors(yaml);
  EXPECT_EQ(r.config->clusters.size(), 201u);
  EXPECT_EQ(r.config->clusters[200].endpoints.size(), 2u);
  EXPECT_EQ(r.config->listeners[0].routes[1].timeout, std::chrono::milliseconds(3000));
}

}  // namespace
}  // namespace cw::config
