// Registry-driven clusters and ejection feedback. Thread contract: see registry_clusters.h.
#include "server/registry_clusters.h"

#include "admin/stats_sum.h"
#include "base/log.h"
#include "server/discovered_update.h"

namespace cw::server {

namespace {

constexpr int64_t kEjectionPollMs = 1000;

}  // namespace

void RegistrySource::refresh() {
  if (stopped_) return;
  std::vector<upstream::Endpoint> eps;
  if (const registry::Service* s = reg_.find(service_)) {
    for (const auto& [id, e] : s->instances) {
      // Ejected instances stay in the cluster: the workers that ejected them keep them out
      // (and bring them back when the ejection ends); only health takes a host away here.
      if (e->health != registry::Health::kPassing) continue;
      auto addr = rt::SocketAddress::from_ip_port(e->inst.address, e->inst.port);
      if (!addr) continue;
      eps.push_back({id, *addr, e->inst.weight});
    }
  }
  std::string error;
  if (!publish(std::move(eps), error) && !error.empty()) {
    CW_WARN("registry cluster for service {}: {}", service_, error);
  }
}

RegistryClusters::RegistryClusters(rt::EventLoop& control, registry::Registry& reg,
                                   Snapshot snapshot, Apply apply)
    : control_(control), reg_(reg), snapshot_(std::move(snapshot)), apply_(std::move(apply)) {
  reg_.subscribe([this](const std::string& service) {
    if (stopped_) return;
    for (auto& [name, src] : sources_) {
      if (src->service() == service) src->refresh();
    }
  });
}

RegistryClusters::~RegistryClusters() { stop(); }

void RegistryClusters::configure(const config::Config& cfg) {
  std::map<std::string, std::unique_ptr<RegistrySource>, std::less<>> next;
  for (const config::Cluster& c : cfg.clusters) {
    if (c.discovery != "registry") continue;
    auto it = sources_.find(c.name);
    if (it != sources_.end() && it->second->service() == c.service) {
      next.emplace(c.name, std::move(it->second));
      continue;
    }
    auto src = std::make_unique<RegistrySource>(reg_, c.service);
    const std::string name = c.name;
    src->watch([this, name](std::shared_ptr<const upstream::EndpointSet> set) {
      on_change(name, set);
    });
    src->start(control_);
    next.emplace(c.name, std::move(src));
  }
  for (auto& [name, src] : sources_) {
    if (src) src->stop();
  }
  sources_ = std::move(next);
}

std::shared_ptr<const upstream::EndpointSet> RegistryClusters::endpoints(
    const config::Cluster& c) const {
  auto it = sources_.find(c.name);
  return it == sources_.end() ? nullptr : it->second->current();
}

void RegistryClusters::on_change(const std::string& cluster,
                                 const std::shared_ptr<const upstream::EndpointSet>& set) {
  if (stopped_) return;
  auto snap = snapshot_ ? snapshot_() : nullptr;
  if (!snap) return;  // start-up: build_snapshot reads the set itself
  if (auto updated = discovered_update(*snap, cluster, "registry", *set)) apply_(std::move(updated));
}

void RegistryClusters::catch_up() {
  for (auto& [name, src] : sources_) on_change(name, src->current());
}

void RegistryClusters::watch_ejections(std::vector<proxy::Worker*> workers) {
  workers_ = std::move(workers);
  poll_timer_.ctx = this;
  poll_timer_.fire = [](rt::TimerNode* n) {
    auto* self = static_cast<RegistryClusters*>(n->ctx);
    self->poll_ejections();
    if (!self->stopped_) self->control_.arm_timer_ms(self->poll_timer_, kEjectionPollMs);
  };
  control_.arm_timer_ms(poll_timer_, kEjectionPollMs);
}

void RegistryClusters::poll_ejections() {
  if (stopped_ || sources_.empty() || workers_.empty()) return;
  const admin::StatsSum sum = admin::sum_stats(workers_);
  auto snap = snapshot_ ? snapshot_() : nullptr;
  if (!snap) return;
  for (const auto& cs : snap->clusters) {
    auto src = sources_.find(cs->name);
    if (src == sources_.end()) continue;
    auto stats = sum.clusters.find(cs->name);
    for (const auto& h : cs->hosts) {
      bool ejected = false;
      if (stats != sum.clusters.end()) {
        auto hs = stats->second.hosts.find(h->key);
        ejected = hs != stats->second.hosts.end() && hs->second.ejected_workers > 0;
      }
      reg_.set_ejected(src->second->service(), h->key, ejected);
    }
  }
}

void RegistryClusters::stop() {
  if (stopped_) return;
  stopped_ = true;
  control_.timers().cancel(poll_timer_);
  for (auto& [name, src] : sources_) src->stop();
}

}  // namespace cw::server
