// DnsClusters: the `discovery: dns` clusters. Each has a DnsSource (an EndpointSource) that
// resolves its hostname through a Resolver on the control loop (A and AAAA with the configured
// port, or SRV for a name starting with '_'), publishes the addresses as endpoints keyed
// "ip:port", and resolves again when the answer's TTL runs out (never sooner than
// kRefreshFloorMs). An unchanged answer publishes nothing. When a refresh fails, the last good
// set stays (stale-if-error) and the refresh is retried with back-off. A published change
// becomes one cluster update, handed to the server to install on every worker, as for registry
// clusters. Clusters that ask the same servers share one Resolver, so two clusters with the
// same hostname send one query.
// Thread contract: control thread (sources, resolvers, their timers and callbacks).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "config/model.h"
#include "proxy/snapshot.h"
#include "resolver/resolver.h"
#include "runtime/event_loop.h"
#include "upstream/endpoint_source.h"

namespace cw::server {

class DnsSource final : public upstream::EndpointSource {
 public:
  // Re-resolution waits at least this long, whatever the TTL (0 s TTLs included), so a name
  // with a tiny TTL costs one query per second per (name, type), not a busy loop.
  static constexpr int64_t kRefreshFloorMs = 1000;
  // After a failed refresh: 1 s, doubling up to 30 s, until one succeeds.
  static constexpr int64_t kRetryMinMs = 1000;
  static constexpr int64_t kRetryMaxMs = 30'000;

  enum class State { kResolving, kResolved, kStale, kFailed };
  static const char* state_name(State s);

  // `resolver` may be null when it could not be made; `error` then says why (state failed).
  DnsSource(rt::EventLoop& control, resolver::Resolver* resolver, const config::Cluster& c,
            std::string error = {});
  ~DnsSource() override;

  std::string_view kind() const override { return "dns"; }
  void start(rt::EventLoop&) override;
  void stop() override;

  // What identifies the source across reloads: hostname, port and resolvers.
  static std::string identity(const config::Cluster& c);
  const std::string& identity() const { return identity_; }
  State state() const { return state_; }
  admin::DnsClusterView view() const;

 private:
  struct Round;
  void resolve();
  void finish(const Round& round);
  void arm(int64_t delay_ms);
  std::vector<upstream::Endpoint> endpoints_of(const resolver::Resolution& r) const;

  rt::EventLoop& control_;
  resolver::Resolver* resolver_;
  std::string identity_;
  std::string hostname_text_;  // as configured, for the API
  std::string name_;
  uint16_t port_ = 0;
  bool srv_ = false;
  State state_ = State::kResolving;
  bool resolved_once_ = false;
  uint32_t ttl_s_ = 0;
  std::string last_error_;
  int64_t retry_ms_ = kRetryMinMs;
  int64_t next_refresh_at_ms_ = 0;  // 0: none scheduled (a round in flight, or stopped)
  rt::TimerNode timer_;
  bool stopped_ = false;
  // Callbacks hold a weak reference: a round that ends after the source is gone does nothing.
  std::shared_ptr<DnsSource*> alive_;
};

class DnsClusters {
 public:
  // Installs one updated cluster everywhere (workers, the server's snapshot, health checks).
  using Apply = std::function<void(std::shared_ptr<const upstream::ClusterSnapshot>)>;
  using Snapshot = std::function<std::shared_ptr<const proxy::ProxySnapshot>()>;

  DnsClusters(rt::EventLoop& control, Snapshot snapshot, Apply apply);
  ~DnsClusters();
  DnsClusters(const DnsClusters&) = delete;
  DnsClusters& operator=(const DnsClusters&) = delete;

  // The config about to be installed: sources for its dns clusters (kept by cluster name when
  // hostname and resolvers are the same, so a reload sends no query), the others dropped.
  void configure(const config::Config& cfg);
  // For build_snapshot: a dns cluster's current set (null for any other cluster).
  std::shared_ptr<const upstream::EndpointSet> endpoints(const config::Cluster& c) const;
  // After a snapshot is installed: clusters whose set moved on meanwhile get their update now.
  void catch_up();
  void stop();
  // For /api/v1/clusters: the cluster's resolution, nullopt when it is not a dns cluster.
  std::optional<admin::DnsClusterView> view(const std::string& cluster) const;
  // For /metrics: the resolvers' numbers summed; nullopt without dns clusters.
  std::optional<admin::ResolverNumbers> numbers() const;

 private:
  void on_change(const std::string& cluster,
                 const std::shared_ptr<const upstream::EndpointSet>& set);
  // The Resolver for these servers ("" = /etc/resolv.conf), made on first use.
  resolver::Resolver* resolver_for(const config::Cluster& c, std::string& error);

  rt::EventLoop& control_;
  Snapshot snapshot_;
  Apply apply_;
  // Resolvers before sources: sources go first and the resolvers they use outlive them.
  std::map<std::string, std::unique_ptr<resolver::Resolver>> resolvers_;
  std::map<std::string, std::unique_ptr<DnsSource>, std::less<>> sources_;  // by cluster
  bool stopped_ = false;
};

}  // namespace cw::server
