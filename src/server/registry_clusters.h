// RegistryClusters: the `discovery: registry` clusters, fed from the registry. Each cluster has
// a RegistrySource (an EndpointSource) publishing its service's serving instances (key = the
// instance id, weight = the instance's weight); a published change becomes one cluster update,
// handed to the server to install on every worker. Outlier ejection goes the other way: when a
// worker ejects a host (or ends an ejection) it posts a message here, the workers' stats are
// read and an instance any worker has ejected is marked ejected in the registry, so DNS stops
// handing it out too (a one-second poll backs the messages up).
// Thread contract: control thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "registry/registry.h"
#include "upstream/endpoint_source.h"

namespace cw::server {

class RegistrySource final : public upstream::EndpointSource {
 public:
  RegistrySource(registry::Registry& reg, std::string service)
      : reg_(reg), service_(std::move(service)) {}
  std::string_view kind() const override { return "registry"; }
  void start(rt::EventLoop&) override { refresh(); }
  void stop() override { stopped_ = true; }
  // Publishes the service's serving instances now (a no-op when they did not change).
  void refresh();
  const std::string& service() const { return service_; }

 private:
  registry::Registry& reg_;
  std::string service_;
  bool stopped_ = false;
};

class RegistryClusters {
 public:
  // Installs one updated cluster everywhere (workers, the server's snapshot, health checks).
  using Apply = std::function<void(std::shared_ptr<const upstream::ClusterSnapshot>)>;
  using Snapshot = std::function<std::shared_ptr<const proxy::ProxySnapshot>()>;

  RegistryClusters(rt::EventLoop& control, registry::Registry& reg, Snapshot snapshot,
                   Apply apply);
  ~RegistryClusters();
  RegistryClusters(const RegistryClusters&) = delete;
  RegistryClusters& operator=(const RegistryClusters&) = delete;

  // The config about to be installed: sources for its registry clusters (kept by cluster name
  // when the service is the same), the others dropped.
  void configure(const config::Config& cfg);
  // For build_snapshot: a registry cluster's current set (null for any other cluster).
  std::shared_ptr<const upstream::EndpointSet> endpoints(const config::Cluster& c) const;
  // After a snapshot is installed: clusters whose set moved on while it was being built and
  // installed get their update now.
  void catch_up();
  // Starts reading ejections from the workers' stats: at once when a worker reports one
  // (poll_now, posted by the workers' ejection hook), and every second as a backstop.
  void watch_ejections(std::vector<proxy::Worker*> workers);
  void poll_now() { poll_ejections(); }
  void stop();

 private:
  void on_change(const std::string& cluster, const std::shared_ptr<const upstream::EndpointSet>& set);
  void poll_ejections();

  rt::EventLoop& control_;
  registry::Registry& reg_;
  Snapshot snapshot_;
  Apply apply_;
  std::map<std::string, std::unique_ptr<RegistrySource>, std::less<>> sources_;  // by cluster
  std::vector<proxy::Worker*> workers_;
  rt::TimerNode poll_timer_;
  bool stopped_ = false;
};

}  // namespace cw::server
