// The health monitor: probes per host, verdicts published on the Host and through the sink.
// Thread contract: see monitor.h.
#include "health/monitor.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "runtime/clock.h"

namespace cw::health {

// One host's checks. Shared by the monitor and the probe's coroutine: after stop() the
// coroutine touches nothing but this (the monitor may be gone by then).
struct HealthMonitor::Probe {
  std::string cluster;
  std::string key;
  upstream::HostPtr host;                       // in the newest snapshot
  std::shared_ptr<const config::HealthCheck> cfg;  // the cluster's, replaced by update()
  std::string request;                          // for http checks
  HostHealth health;
  rt::EventLoop* loop = nullptr;
  rt::TcpStream conn;  // the check's connection while one is open
  rt::TimerNode timer;
  std::coroutine_handle<> waiting;  // suspended until `timer` fires
  bool stopped = false;
  bool finished = false;

  void stop() {
    stopped = true;
    if (waiting) {
      loop->timers().cancel(timer);
      loop->defer(std::exchange(waiting, {}));  // resumed on a later turn, sees `stopped`
    }
    if (conn.is_open()) conn.shutdown_both();  // the read or write in flight fails
  }
  // New settings: check now rather than after the old interval.
  void wake() {
    if (waiting) loop->timers().arm(timer, loop->now_ms());
  }
  void set_settings(std::shared_ptr<const config::HealthCheck> c) {
    cfg = std::move(c);
    health.state.set_thresholds({cfg->healthy_threshold, cfg->unhealthy_threshold});
    request = cfg->kind == config::HealthCheck::Kind::kHttp
                  ? check_request(cfg->http_path, cfg->host.empty() ? key : cfg->host)
                  : std::string();
  }
};

// Suspends a probe until a loop time; stop() ends the wait early.
class HealthMonitor::WaitUntil {
 public:
  WaitUntil(Probe& p, int64_t at_ms) : p_(p), at_(at_ms) {}
  bool await_ready() const noexcept { return p_.stopped; }
  void await_suspend(std::coroutine_handle<> h) {
    p_.waiting = h;
    p_.timer.ctx = &p_;
    p_.timer.fire = [](rt::TimerNode* n) {
      std::exchange(static_cast<Probe*>(n->ctx)->waiting, {}).resume();
    };
    p_.loop->timers().arm(p_.timer, at_);  // a time already passed fires on the next turn
  }
  void await_resume() const noexcept {}

 private:
  Probe& p_;
  int64_t at_;
};

HealthMonitor::HealthMonitor(rt::EventLoop& loop, VerdictSink sink, uint64_t seed)
    : loop_(loop), sink_(std::move(sink)), rng_(seed) {}

HealthMonitor::~HealthMonitor() { stop(); }

rt::Task<void> HealthMonitor::run_probe(std::shared_ptr<Probe> p) {
  co_await WaitUntil(*p, p->loop->now_ms());  // the first check on the loop's next turn
  while (!p->stopped) {
    const int64_t started = p->loop->now_ms();
    const std::shared_ptr<const config::HealthCheck> cfg = p->cfg;  // alive across the check
    CheckResult r =
        co_await run_check(*p->loop, *cfg, p->host->address, p->request, p->conn, p->stopped);
    if (p->stopped) break;
    record(*p, std::move(r));
    // A steady cadence from the start of each check, so a slow check does not stretch it.
    co_await WaitUntil(*p, started + jittered(*cfg));
  }
  p->finished = true;
}

int64_t HealthMonitor::jittered(const config::HealthCheck& cfg) {
  return resilience::jittered_interval_ms(cfg.interval.count(), cfg.jitter_percent,
                                          rng_.uniform());
}

void HealthMonitor::record(Probe& p, CheckResult r) {
  HostHealth& h = p.health;
  ++(r.ok ? h.successes_total : h.failures_total);
  const bool changed = h.state.record(r.ok, loop_.now_ms());
  h.last_at_unix_ms = rt::wall_ms();
  if (changed) {
    const bool serving = h.state.serving();
    if (serving) {
      CW_INFO("health: {} host {} is healthy again ({} checks in a row passed)", p.cluster, p.key,
              h.state.consecutive_successes());
    } else {
      CW_WARN("health: {} host {} is unhealthy ({}; {} failed in a row)", p.cluster, p.key,
              r.error, h.state.consecutive_failures());
    }
    p.host->healthy.store(serving, std::memory_order_relaxed);
    if (sink_) sink_(p.cluster, p.key, serving);
  }
  h.last = std::move(r);
}

void HealthMonitor::retire(const std::shared_ptr<Probe>& p) {
  p->stop();
  if (!p->finished) retired_.push_back(p);
}

void HealthMonitor::remove_cluster(std::map<std::string, ClusterChecks, std::less<>>::iterator it,
                                   const upstream::ClusterSnapshot* now) {
  for (auto& [key, p] : it->second.hosts) {
    retire(p);
    // Checks turned off: a host they had taken out serves again (nothing else would bring it
    // back). A removed cluster (now == null) has no workers' view left to tell.
    const int j = now ? now->find(key) : -1;
    if (j >= 0 && !p->health.state.serving()) {
      now->hosts[size_t(j)]->healthy.store(true, std::memory_order_relaxed);
      if (sink_) sink_(p->cluster, key, true);
    }
  }
  clusters_.erase(it);
}

void HealthMonitor::update(
    const std::vector<std::shared_ptr<const upstream::ClusterSnapshot>>& clusters) {
  if (stopped_) return;
  std::erase_if(retired_, [](const auto& p) { return p->finished; });
  for (auto it = clusters_.begin(); it != clusters_.end();) {
    auto same = std::find_if(clusters.begin(), clusters.end(),
                             [&](const auto& c) { return c && c->name == it->first; });
    const upstream::ClusterSnapshot* now = same != clusters.end() ? same->get() : nullptr;
    if (now && now->settings.health_check) {
      ++it;
      continue;
    }
    remove_cluster(it++, now);
  }
  for (const auto& c : clusters) {
    if (c && c->settings.health_check) update_cluster(c);
  }
}

void HealthMonitor::update_cluster(const std::shared_ptr<const upstream::ClusterSnapshot>& c) {
  if (stopped_ || !c) return;
  if (!c->settings.health_check) {
    if (auto it = clusters_.find(c->name); it != clusters_.end()) remove_cluster(it, c.get());
    return;
  }
  ClusterChecks& cc = clusters_[c->name];
  const config::HealthCheck& want = *c->settings.health_check;
  const bool changed = !cc.cfg || !(*cc.cfg == want);
  if (changed) cc.cfg = std::make_shared<const config::HealthCheck>(want);
  // Hosts gone from the set lose their probe.
  for (auto it = cc.hosts.begin(); it != cc.hosts.end();) {
    if (c->find(it->first) < 0) {
      retire(it->second);
      it = cc.hosts.erase(it);
    } else {
      ++it;
    }
  }
  for (const upstream::HostPtr& host : c->hosts) {
    auto it = cc.hosts.find(host->key);
    if (it != cc.hosts.end()) {
      Probe& p = *it->second;
      p.host = host;  // a new weight makes a new Host object: publish on the one in force
      p.host->healthy.store(p.health.state.serving(), std::memory_order_relaxed);
      if (changed) {
        p.set_settings(cc.cfg);
        p.wake();
      }
      continue;
    }
    auto p = std::make_shared<Probe>();
    p->cluster = c->name;
    p->key = host->key;
    p->host = host;
    p->loop = &loop_;
    p->set_settings(cc.cfg);
    cc.hosts.emplace(host->key, p);
    rt::spawn(run_probe(std::move(p)));
  }
}

void HealthMonitor::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [name, cc] : clusters_) {
    for (auto& [key, p] : cc.hosts) retire(p);
  }
  clusters_.clear();
}

bool HealthMonitor::idle() const {
  if (!clusters_.empty()) return false;
  return std::all_of(retired_.begin(), retired_.end(), [](const auto& p) { return p->finished; });
}

const HostHealth* HealthMonitor::host(std::string_view cluster, std::string_view key) const {
  auto c = clusters_.find(cluster);
  if (c == clusters_.end()) return nullptr;
  auto h = c->second.hosts.find(key);
  return h == c->second.hosts.end() ? nullptr : &h->second->health;
}

bool HealthMonitor::checks(std::string_view cluster) const {
  return clusters_.find(cluster) != clusters_.end();
}

void HealthMonitor::visit(const std::function<void(const std::string&, const std::string&,
                                                   const HostHealth&)>& fn) const {
  for (const auto& [name, cc] : clusters_) {
    for (const auto& [key, p] : cc.hosts) fn(name, key, p->health);
  }
}

}  // namespace cw::health
