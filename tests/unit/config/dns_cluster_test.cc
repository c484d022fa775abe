// `discovery: dns` clusters: hostname (name:port, or an SRV name without a port), resolvers,
// and the errors for what does not belong.
#include <gtest/gtest.h>

#include "error_helpers.h"

namespace cw::config {
namespace {

using test::one_error;
using test::with_cluster;

// A dns cluster `web` (its name on line 8) with these extra lines (line 10 on).
std::string dns_cluster(const std::string& lines) {
  return with_cluster("  - name: web\n    discovery: dns\n" + lines);
}

TEST(DnsCluster, HostAndPort) {
  LoadResult r = load_config_string(dns_cluster("    hostname: API.Internal:8080\n"), "t.yaml");
  ASSERT_TRUE(r.ok()) << test::dump(r);
  const Cluster& c = r.config->clusters[0];
  EXPECT_EQ(c.discovery, "dns");
  EXPECT_EQ(c.hostname, "api.internal");
  EXPECT_EQ(c.hostname_port, 8080);
  EXPECT_TRUE(c.resolvers.empty());
  EXPECT_TRUE(c.endpoints.empty());
  EXPECT_TRUE(r.config->unapplied_keys.empty());
}

TEST(DnsCluster, SrvNameAndResolvers) {
  LoadResult r = load_config_string(
      dns_cluster("    hostname: _api._tcp.internal\n"
                  "    resolvers: [127.0.0.1:8600, 10.0.0.53, \"[::1]:5353\"]\n"),
      "t.yaml");
  ASSERT_TRUE(r.ok()) << test::dump(r);
  const Cluster& c = r.config->clusters[0];
  EXPECT_EQ(c.hostname, "_api._tcp.internal");
  EXPECT_EQ(c.hostname_port, 0);
  ASSERT_EQ(c.resolvers.size(), 3u);
  EXPECT_EQ(c.resolvers[0].text(), "127.0.0.1:8600");
  EXPECT_EQ(c.resolvers[1].text(), "10.0.0.53:53");
  EXPECT_EQ(c.resolvers[2].text(), "[::1]:5353");
}

TEST(DnsCluster, HostnameIsRequired) {
  EXPECT_CONFIG_ERROR(dns_cluster(""), 8, 5, "clusters[0].hostname",
                      "missing required key 'hostname' (the name to resolve and its port, such "
                      "as api.internal:8080, or an SRV name such as _api._tcp.internal)");
}

TEST(DnsCluster, HostnameNeedsAPort) {
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: api.internal\n"), 10, 15, "clusters[0].hostname",
                      "expected host:port with a port 1-65535 (or an SRV name such as "
                      "_api._tcp.internal), got 'api.internal'");
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: api.internal:0\n"), 10, 15,
                      "clusters[0].hostname",
                      "expected host:port with a port 1-65535 (or an SRV name such as "
                      "_api._tcp.internal), got 'api.internal:0'");
}

TEST(DnsCluster, SrvNameTakesNoPort) {
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: _api._tcp.internal:80\n"), 10, 15,
                      "clusters[0].hostname",
                      "'_api._tcp.internal' is an SRV name: its records give the ports, so it "
                      "takes no ':80'");
}

TEST(DnsCluster, AddressesAndBadNamesAreRefused) {
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: 10.0.0.1:80\n"), 10, 15, "clusters[0].hostname",
                      "'10.0.0.1:80' is an address, not a name to resolve (use discovery: "
                      "static with endpoints)");
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: \"bad name:80\"\n"), 10, 15,
                      "clusters[0].hostname",
                      "expected a DNS name and port such as api.internal:8080 (labels of "
                      "[A-Za-z0-9_-], 1-63 each), got 'bad name:80'");
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: a..b:80\n"), 10, 15, "clusters[0].hostname",
                      "expected a DNS name and port such as api.internal:8080 (labels of "
                      "[A-Za-z0-9_-], 1-63 each), got 'a..b:80'");
}

TEST(DnsCluster, EndpointsDoNotBelong) {
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: api.internal:80\n"
                                  "    endpoints: [127.0.0.1:80]\n"),
                      11, 5, "clusters[0].endpoints",
                      "'endpoints' is only used with discovery: static (a dns cluster's hosts "
                      "are the addresses its hostname resolves to)");
}

TEST(DnsCluster, ResolversOnlyForDnsAndWellFormed) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    resolvers: [127.0.0.1:53]\n"),
                      10, 5, "clusters[0].resolvers",
                      "'resolvers' is only used with discovery: dns");
  EXPECT_CONFIG_ERROR(dns_cluster("    hostname: api.internal:80\n    resolvers: []\n"), 11, 16,
                      "clusters[0].resolvers",
                      "resolvers needs at least one address (leave the key out to use "
                      "/etc/resolv.conf)");
  const ConfigError e = test::one_error(
      dns_cluster("    hostname: api.internal:80\n    resolvers: [dns.example:53]\n"));
  EXPECT_EQ(e.key_path, "clusters[0].resolvers[0]");
}

TEST(DnsCluster, HostnameOnlyForDns) {
  EXPECT_CONFIG_ERROR(with_cluster("  - name: web\n"
                                   "    endpoints: [127.0.0.1:9001]\n"
                                   "    hostname: api.internal:80\n"),
                      10, 5, "clusters[0].hostname", "'hostname' is only used with discovery: dns");
}

}  // namespace
}  // namespace cw::config
