// RegistryChecks: runs the registry instances' http and tcp checks through the one health
// monitor (the same probes, thresholds and admin view as cluster checks) and hands each verdict
// back to the registry, which publishes it (DNS and registry-driven clusters follow).
// Thread contract: control thread; built after both, destroyed before both.
#pragma once

#include <map>
#include <string>

#include "health/monitor.h"
#include "registry/registry.h"

namespace cw::server {

class RegistryChecks {
 public:
  RegistryChecks(registry::Registry& reg, health::HealthMonitor& monitor);
  RegistryChecks(const RegistryChecks&) = delete;
  RegistryChecks& operator=(const RegistryChecks&) = delete;

  // Brings one service's checks in line with its instances (called on every registry change;
  // a change that leaves the checked set as it was costs a comparison).
  void sync(const std::string& service);
  // Every service, e.g. after a restart restored them.
  void sync_all();

  // The monitor's group for a service's instances.
  static std::string group(const std::string& service) { return "registry/" + service; }

 private:
  registry::Registry& reg_;
  health::HealthMonitor& monitor_;
  // Per service: what the monitor was last given, to skip updates that change nothing.
  std::map<std::string, std::string, std::less<>> signature_;
};

// The health monitor's check for an instance's http or tcp check. Every result counts at once
// (thresholds 1/1), as a Consul check's status is its last result.
config::HealthCheck instance_check(const registry::Check& c);

}  // namespace cw::server
