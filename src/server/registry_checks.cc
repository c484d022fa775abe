// Registry instance checks through the health monitor. Thread contract: see registry_checks.h.
#include "server/registry_checks.h"

#include <memory>
#include <vector>

#include "base/log.h"

namespace cw::server {

config::HealthCheck instance_check(const registry::Check& c) {
  config::HealthCheck hc;
  hc.kind = c.kind == registry::CheckKind::kHttp ? config::HealthCheck::Kind::kHttp
                                                 : config::HealthCheck::Kind::kTcp;
  hc.http_path = c.http_path;
  hc.interval = config::Duration(c.interval_ms);
  hc.timeout = config::Duration(c.timeout_ms);
  hc.unhealthy_threshold = 1;
  hc.healthy_threshold = 1;
  return hc;
}

RegistryChecks::RegistryChecks(registry::Registry& reg, health::HealthMonitor& monitor)
    : reg_(reg), monitor_(monitor) {}

void RegistryChecks::sync_all() {
  for (const auto& [name, svc] : reg_.services()) sync(name);
}

void RegistryChecks::sync(const std::string& service) {
  std::vector<health::HealthMonitor::Target> targets;
  std::string sig;
  if (const registry::Service* s = reg_.find(service)) {
    for (const auto& [id, e] : s->instances) {
      const registry::Check& c = e->inst.check;
      if (c.kind != registry::CheckKind::kHttp && c.kind != registry::CheckKind::kTcp) continue;
      auto addr = rt::SocketAddress::from_ip_port(e->inst.address, e->inst.port);
      if (!addr) continue;  // validated at registration; cannot happen
      sig += id + '|' + addr->text() + '|' + std::string(registry::check_kind_name(c.kind)) + '|' +
             c.http_path + '|' + std::to_string(c.interval_ms) + '|' +
             std::to_string(c.timeout_ms) + '\n';
      targets.push_back({id, *addr, std::make_shared<const config::HealthCheck>(instance_check(c))});
    }
  }
  auto it = signature_.find(service);
  if (it != signature_.end() ? it->second == sig : sig.empty()) return;
  if (sig.empty()) {
    signature_.erase(service);
  } else {
    signature_[service] = sig;
  }
  const std::string grp = group(service);
  registry::Registry* reg = &reg_;
  health::HealthMonitor* mon = &monitor_;
  monitor_.update_group(grp, std::move(targets), [reg, mon, service, grp](const std::string& key,
                                                                          bool healthy) {
    std::string detail = healthy ? "check passed" : "check failed";
    if (const health::HostHealth* h = mon->target(grp, key)) {
      if (!h->last.error.empty()) {
        detail = h->last.error;
      } else if (h->last.status != 0) {
        detail = "HTTP " + std::to_string(h->last.status);
      }
    }
    reg->set_check_result(service, key, healthy, std::move(detail));
  });
}

}  // namespace cw::server
