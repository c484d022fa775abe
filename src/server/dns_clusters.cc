// DNS-driven clusters. Thread contract: see dns_clusters.h.
#include "server/dns_clusters.h"

#include <algorithm>
#include <limits>
#include <set>

#include "base/log.h"
#include "server/discovered_update.h"
#include "dns/message.h"

namespace cw::server {

namespace {

std::string servers_key(const config::Cluster& c) {
  std::string out;
  for (const auto& r : c.resolvers) out += (out.empty() ? "" : ",") + r.text();
  return out;
}

}  // namespace

// One refresh: the lookups it waits for (A and AAAA, or SRV) and their results.
struct DnsSource::Round {
  int outstanding = 0;
  std::vector<resolver::Resolution> results;
};

const char* DnsSource::state_name(State s) {
  switch (s) {
    case State::kResolving: return "resolving";
    case State::kResolved: return "resolved";
    case State::kStale: return "stale";
    case State::kFailed: return "failed";
  }
  return "?";
}

std::string DnsSource::identity(const config::Cluster& c) {
  return c.hostname + ":" + std::to_string(c.hostname_port) + "@" + servers_key(c);
}

DnsSource::DnsSource(rt::EventLoop& control, resolver::Resolver* resolver,
                     const config::Cluster& c, std::string error)
    : control_(control),
      resolver_(resolver),
      identity_(identity(c)),
      hostname_text_(c.hostname_port ? c.hostname + ":" + std::to_string(c.hostname_port)
                                     : c.hostname),
      name_(c.hostname),
      port_(c.hostname_port),
      srv_(!c.hostname.empty() && c.hostname.front() == '_'),
      last_error_(std::move(error)),
      alive_(std::make_shared<DnsSource*>(this)) {
  timer_.ctx = this;
  timer_.fire = [](rt::TimerNode* n) {
    auto* self = static_cast<DnsSource*>(n->ctx);
    self->next_refresh_at_ms_ = 0;
    self->resolve();
  };
  if (!resolver_) state_ = State::kFailed;
}

DnsSource::~DnsSource() { stop(); }

void DnsSource::start(rt::EventLoop&) { resolve(); }

void DnsSource::stop() {
  stopped_ = true;
  next_refresh_at_ms_ = 0;
  control_.timers().cancel(timer_);
}

void DnsSource::arm(int64_t delay_ms) {
  if (stopped_) return;
  next_refresh_at_ms_ = control_.now_ms() + delay_ms;
  control_.arm_timer_ms(timer_, delay_ms);
}

void DnsSource::resolve() {
  if (stopped_ || !resolver_) return;
  auto round = std::make_shared<Round>();
  const std::vector<uint16_t> types =
      srv_ ? std::vector<uint16_t>{dns::rr::kSRV}
           : std::vector<uint16_t>{dns::rr::kA, dns::rr::kAAAA};
  round->outstanding = int(types.size());
  for (uint16_t t : types) {
    resolver_->lookup(name_, t, [weak = std::weak_ptr<DnsSource*>(alive_),
                                 round](const resolver::Resolution& r) {
      round->results.push_back(r);
      if (--round->outstanding > 0) return;
      if (auto self = weak.lock()) (*self)->finish(*round);
    });
  }
}

std::vector<upstream::Endpoint> DnsSource::endpoints_of(const resolver::Resolution& r) const {
  std::vector<upstream::Endpoint> out;
  auto add = [&out](const std::string& ip, uint16_t port, uint32_t weight) {
    auto addr = rt::SocketAddress::from_ip_port(ip, port);
    if (!addr) return;
    upstream::Endpoint e{addr->text(), *addr, std::max<uint32_t>(weight, 1)};
    // The same address twice (two SRV targets on one host): the first one counts.
    for (const auto& have : out) {
      if (have.key == e.key) return;
    }
    out.push_back(std::move(e));
  };
  if (!srv_) {
    for (const std::string& ip : r.addresses) add(ip, port_, 1);
    return out;
  }
  // RFC 2782: the lowest priority value is tried first; the others are a fallback this version
  // does not serve (it would need a per-priority failover in the balancer).
  uint16_t best = std::numeric_limits<uint16_t>::max();
  for (const auto& t : r.srv) best = std::min(best, t.priority);
  for (const auto& t : r.srv) {
    if (t.priority != best || t.port == 0) continue;
    for (const std::string& ip : t.addresses) add(ip, t.port, t.weight);
  }
  return out;
}

void DnsSource::finish(const Round& round) {
  if (stopped_) return;
  const int64_t now = control_.now_ms();
  std::vector<upstream::Endpoint> eps;
  std::string error;
  bool failed = false, stale = false;
  int64_t expires = std::numeric_limits<int64_t>::max();
  uint32_t ttl = std::numeric_limits<uint32_t>::max();
  for (const resolver::Resolution& r : round.results) {
    const std::string what = resolver::qtype_name(r.qtype) + " " + name_ + ": ";
    if (!r.usable()) {
      failed = true;
      error = what + r.error;
      continue;
    }
    if (r.stale) {
      stale = true;
      error = what + r.error;
    }
    expires = std::min(expires, r.stale ? now : r.expires_at_ms);
    ttl = std::min(ttl, r.ttl_s);
    for (auto& e : endpoints_of(r)) {
      const bool dup = std::any_of(eps.begin(), eps.end(),
                                   [&e](const upstream::Endpoint& x) { return x.key == e.key; });
      if (!dup) eps.push_back(std::move(e));
    }
  }
  if (failed) {
    // Keep what we have: a DNS outage must not empty the cluster (stale-if-error).
    state_ = resolved_once_ ? State::kStale : State::kFailed;
    last_error_ = error;
    CW_WARN("dns cluster {}: refresh failed ({}); {}", hostname_text_, error,
            resolved_once_ ? "keeping the last good addresses" : "no addresses yet");
    arm(retry_ms_);
    retry_ms_ = std::min(retry_ms_ * 2, kRetryMaxMs);
    return;
  }
  std::string refused;
  if (publish(std::move(eps), refused)) {
    CW_INFO("dns cluster {}: {} addresses (ttl {} s)", hostname_text_,
            current()->endpoints.size(), ttl);
  } else if (!refused.empty()) {
    CW_WARN("dns cluster {}: {}", hostname_text_, refused);
  }
  resolved_once_ = true;
  ttl_s_ = ttl == std::numeric_limits<uint32_t>::max() ? 0 : ttl;
  if (stale) {
    // The resolver served its last good answer because the refresh failed: retry soon.
    state_ = State::kStale;
    last_error_ = error;
    arm(retry_ms_);
    retry_ms_ = std::min(retry_ms_ * 2, kRetryMaxMs);
    return;
  }
  state_ = State::kResolved;
  last_error_.clear();
  retry_ms_ = kRetryMinMs;
  arm(std::max(expires - now, kRefreshFloorMs));
}

admin::DnsClusterView DnsSource::view() const {
  admin::DnsClusterView v;
  v.hostname = hostname_text_;
  v.state = state_name(state_);
  for (const auto& e : current()->endpoints) v.addresses.push_back(e.key);
  v.ttl_s = ttl_s_;
  v.next_refresh_in_ms =
      next_refresh_at_ms_ > 0 ? std::max<int64_t>(next_refresh_at_ms_ - control_.now_ms(), 0) : 0;
  v.last_error = last_error_;
  return v;
}

DnsClusters::DnsClusters(rt::EventLoop& control, Snapshot snapshot, Apply apply)
    : control_(control), snapshot_(std::move(snapshot)), apply_(std::move(apply)) {}

DnsClusters::~DnsClusters() {
  stop();
  sources_.clear();  // before the resolvers they use
}

resolver::Resolver* DnsClusters::resolver_for(const config::Cluster& c, std::string& error) {
  const std::string key = servers_key(c);
  auto it = resolvers_.find(key);
  if (it != resolvers_.end()) return it->second.get();
  resolver::ResolverOptions o;
  for (const auto& r : c.resolvers) o.servers.push_back(r.text());
  auto made = resolver::Resolver::create(control_, std::move(o));
  if (!made) {
    error = made.error();
    return nullptr;
  }
  return resolvers_.emplace(key, std::move(*made)).first->second.get();
}

void DnsClusters::configure(const config::Config& cfg) {
  if (stopped_) return;
  std::map<std::string, std::unique_ptr<DnsSource>, std::less<>> next;
  std::vector<DnsSource*> started;
  for (const config::Cluster& c : cfg.clusters) {
    if (c.discovery != "dns") continue;
    auto it = sources_.find(c.name);
    if (it != sources_.end() && it->second->identity() == DnsSource::identity(c)) {
      next.emplace(c.name, std::move(it->second));
      continue;
    }
    std::string error;
    resolver::Resolver* r = resolver_for(c, error);
    if (!r) CW_WARN("cluster {}: cannot resolve {}: {}", c.name, c.hostname, error);
    auto src = std::make_unique<DnsSource>(control_, r, c, error);
    const std::string name = c.name;
    src->watch([this, name](std::shared_ptr<const upstream::EndpointSet> set) {
      on_change(name, set);
    });
    started.push_back(src.get());
    next.emplace(c.name, std::move(src));
  }
  for (auto& [name, src] : sources_) {
    if (src) src->stop();
  }
  sources_ = std::move(next);
  // Resolvers no cluster asks any more go (their queries in flight with them).
  std::set<std::string> used;
  for (const config::Cluster& c : cfg.clusters) {
    if (c.discovery == "dns") used.insert(servers_key(c));
  }
  std::erase_if(resolvers_, [&used](const auto& kv) { return !used.count(kv.first); });
  // Started once all are in place: two new clusters with one hostname share one query.
  for (DnsSource* s : started) s->start(control_);
}

std::shared_ptr<const upstream::EndpointSet> DnsClusters::endpoints(
    const config::Cluster& c) const {
  auto it = sources_.find(c.name);
  if (it == sources_.end() || it->second->identity() != DnsSource::identity(c)) return nullptr;
  return it->second->current();
}

void DnsClusters::on_change(const std::string& cluster,
                            const std::shared_ptr<const upstream::EndpointSet>& set) {
  if (stopped_) return;
  auto snap = snapshot_ ? snapshot_() : nullptr;
  if (!snap) return;  // start-up: build_snapshot reads the set itself
  if (auto updated = discovered_update(*snap, cluster, "dns", *set)) apply_(std::move(updated));
}

std::optional<admin::ResolverNumbers> DnsClusters::numbers() const {
  if (sources_.empty()) return std::nullopt;
  admin::ResolverNumbers n;
  for (const auto& [key, r] : resolvers_) {
    const resolver::ResolverCounters& c = r->counters();
    const resolver::CacheCounters& cc = r->cache_counters();
    n.lookups += c.lookups;
    n.queries += c.queries;
    n.coalesced += c.coalesced;
    n.failures += c.failures;
    n.cache_hits += cc.hits;
    n.cache_misses += cc.misses;
    n.stale_served += cc.stale_served;
    n.cache_entries += r->cache_entries();
  }
  for (const auto& [name, src] : sources_) {
    ++n.clusters;
    n.clusters_stale += src->state() == DnsSource::State::kStale;
  }
  return n;
}

void DnsClusters::catch_up() {
  for (auto& [name, src] : sources_) on_change(name, src->current());
}

void DnsClusters::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [name, src] : sources_) src->stop();
}

std::optional<admin::DnsClusterView> DnsClusters::view(const std::string& cluster) const {
  auto it = sources_.find(cluster);
  if (it == sources_.end()) return std::nullopt;
  return it->second->view();
}

}  // namespace cw::server
