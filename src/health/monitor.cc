// The health monitor: probes per host (and per external target), verdicts published on the
// Host and through the sinks.
// Thread contract: see monitor.h.
#include "health/monitor.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "runtime/clock.h"

namespace cw::health {

// One host's (or external target's) checks. Shared by the monitor and the probe's coroutine:
// after stop() the coroutine touches nothing but this (the monitor may be gone by then).
struct HealthMonitor::Probe {
  std::string scope;  // the cluster's name, or the target group's
  std::string key;
  upstream::HostPtr host;     // a cluster host: in the newest snapshot; null for a target
  rt::SocketAddress address;  // what is checked (a cluster host's own, kept in step)
  // The Host header when the check names none: a cluster host's key (its address as
  // configured), a target's address (its key is an id, not a name a server would know).
  std::string authority;
  std::shared_ptr<const config::HealthCheck> cfg;  // the cluster's or the target's own
  std::string request;                             // for http checks
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
                  ? check_request(cfg->http_path, cfg->host.empty() ? authority : cfg->host)
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
    CheckResult r = co_await run_check(*p->loop, *cfg, p->address, p->request, p->conn, p->stopped);
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
  const bool first = h.state.verdict() == resilience::HealthVerdict::kUnchecked;
  const bool changed = h.state.record(r.ok, loop_.now_ms());
  h.last_at_unix_ms = rt::wall_ms();
  // A target held out until its first pass changes no serving status when that first check
  // fails, but its listener has heard nothing yet and must learn that it stays out.
  const bool tell = changed || (first && !h.state.unchecked_serves());
  const bool serving = h.state.serving();
  if (tell) {
    const char* what = p.host ? "host" : "target";
    if (serving) {
      CW_INFO("health: {} {} {} is healthy{} ({} checks in a row passed)", p.scope, what, p.key,
              first ? "" : " again", h.state.consecutive_successes());
    } else {
      CW_WARN("health: {} {} {} is unhealthy ({}; {} failed in a row)", p.scope, what, p.key,
              r.error, h.state.consecutive_failures());
    }
  }
  h.last = std::move(r);  // before the sinks: one that reads the monitor sees this check
  if (!tell) return;
  if (p.host) {
    p.host->healthy.store(serving, std::memory_order_relaxed);
    if (sink_) sink_(p.scope, p.key, serving);
    return;
  }
  auto g = groups_.find(p.scope);
  if (g == groups_.end()) return;  // cannot happen: a removed group's probes are stopped
  const std::shared_ptr<const GroupSink> sink = g->second.sink;  // alive through the call
  if (sink && *sink) (*sink)(p.key, serving);
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
      if (sink_) sink_(p->scope, key, true);
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
      p.address = host->address;
      p.host->healthy.store(p.health.state.serving(), std::memory_order_relaxed);
      if (changed) {
        p.set_settings(cc.cfg);
        p.wake();
      }
      continue;
    }
    auto p = std::make_shared<Probe>();
    p->scope = c->name;
    p->key = host->key;
    p->host = host;
    p->address = host->address;
    p->authority = host->key;
    p->loop = &loop_;
    p->set_settings(cc.cfg);
    cc.hosts.emplace(host->key, p);
    rt::spawn(run_probe(std::move(p)));
  }
}

void HealthMonitor::start_target(TargetGroup& g, const std::string& group, const Target& t) {
  auto p = std::make_shared<Probe>();
  p->scope = group;
  p->key = t.key;
  p->address = t.address;
  p->authority = t.address.text();
  p->loop = &loop_;
  // Nothing vouches for a target before its first check (unlike a configured cluster host).
  p->health.state = resilience::HealthState::starts_unserving();
  p->set_settings(t.check);
  g.targets.emplace(t.key, p);
  rt::spawn(run_probe(std::move(p)));
}

void HealthMonitor::update_group(const std::string& group, std::vector<Target> targets,
                                 GroupSink sink) {
  if (stopped_) return;
  std::erase_if(retired_, [](const auto& p) { return p->finished; });
  // The wanted set by key; the first of duplicate keys wins, as a map would keep it.
  std::map<std::string_view, const Target*> want;
  for (const Target& t : targets) {
    if (!t.check) {
      CW_ERROR("health: group {} target {} has no check: not checked", group, t.key);
      continue;
    }
    if (!want.emplace(t.key, &t).second) {
      CW_WARN("health: group {} lists target {} twice: the first one is checked", group, t.key);
    }
  }
  auto git = groups_.find(group);
  if (want.empty()) {  // no targets: the group goes
    if (git == groups_.end()) return;
    for (auto& [key, p] : git->second.targets) retire(p);
    groups_.erase(git);
    return;
  }
  if (git == groups_.end()) git = groups_.emplace(group, TargetGroup{}).first;
  TargetGroup& g = git->second;
  g.sink = std::make_shared<const GroupSink>(std::move(sink));
  for (auto it = g.targets.begin(); it != g.targets.end();) {
    if (!want.contains(it->first)) {
      retire(it->second);
      it = g.targets.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [key, t] : want) {
    auto it = g.targets.find(key);
    if (it != g.targets.end()) {
      Probe& p = *it->second;
      if (p.address.text() == t->address.text()) {
        if (!(*p.cfg == *t->check)) {
          p.set_settings(t->check);  // thresholds change, the verdict stays
          p.wake();
        }
        continue;
      }
      // Moved: what was learnt about the old address says nothing about the new one.
      retire(it->second);
      g.targets.erase(it);
    }
    start_target(g, group, *t);
  }
}

void HealthMonitor::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [name, cc] : clusters_) {
    for (auto& [key, p] : cc.hosts) retire(p);
  }
  clusters_.clear();
  for (auto& [name, g] : groups_) {
    for (auto& [key, p] : g.targets) retire(p);
  }
  groups_.clear();
}

bool HealthMonitor::idle() const {
  if (!clusters_.empty() || !groups_.empty()) return false;
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

const HostHealth* HealthMonitor::target(std::string_view group, std::string_view key) const {
  auto g = groups_.find(group);
  if (g == groups_.end()) return nullptr;
  auto t = g->second.targets.find(key);
  return t == g->second.targets.end() ? nullptr : &t->second->health;
}

}  // namespace cw::health
